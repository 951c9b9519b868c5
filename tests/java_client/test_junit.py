"""The runtime library's own JUnit 5 suite (java_client/src/test), run with the JUnit console launcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorebridge.java import toolchain

pytestmark = pytest.mark.java


def test_runtime_junit_suite_passes(tmp_path: Path) -> None:
    report = toolchain.run_junit(tmp_path)
    assert report.ok, report.output[-6000:]
    # ScoringClient, PmmlScorer and FallbackPolicy each have tests; none may be silently skipped.
    assert report.tests >= 20 and report.skipped == 0, report.output[-3000:]
