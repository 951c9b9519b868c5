"""Tests of the Java client: runtime (JUnit), generator, PMML and HTTP paths, fallback."""
