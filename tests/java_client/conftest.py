"""Fixtures for the Java client tests: the runtime jar, and every sample bundle's generated client
compiled once per session together with a small driver (``Harness.java.tmpl``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorebridge.java import toolchain

from .support import PACKAGE, JavaClient, write_client


@pytest.fixture(scope="session")
def runtime_classpath() -> list[Path]:
    """The runtime jar (built with javac) and its dependency jars."""
    return toolchain.runtime_classpath()


@pytest.fixture(scope="session")
def java_clients(sample_repo: Path, runtime_classpath: list[Path],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, JavaClient]:
    """Every sample bundle's generated client plus driver, compiled in one javac run."""
    work = tmp_path_factory.mktemp("java-clients")
    src, classes = work / "src", work / "classes"
    clients = {}
    for model_dir in sorted(p for p in sample_repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
        client = write_client(model_dir, PACKAGE, src, work, classes, runtime_classpath)
        assert len(client.generated.files) == 4
        clients[client.bundle.name] = client
    assert {"credit_risk"} <= set(clients), f"sample repo {sample_repo} lacks credit_risk"
    toolchain.compile_java(sorted(src.rglob("*.java")), runtime_classpath, classes)
    return clients
