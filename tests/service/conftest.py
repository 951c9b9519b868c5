"""Fixtures for the scoring service tests: the real gunicorn server on a free loopback port."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scoring_service.testing import running_service

SERVICE_ARGS = ["--max-records", "500", "--max-body-mb", "1", "--poll-interval", "0", "--audit-sample", "1",
                "--batch-threads", "2", "--batch-rows", "256"]


@pytest.fixture(scope="session")
def service_repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample repository that the shared server serves (tests only read it)."""
    dest = tmp_path_factory.mktemp("service") / "models"
    shutil.copytree(sample_repo, dest)
    # plus a model whose pipeline cannot take a missing income (the manifest is not digest-covered)
    strict = dest / "credit_strict" / "1"
    shutil.copytree(dest / "credit_risk" / "1", strict)
    manifest = json.loads((strict / "manifest.json").read_text())
    manifest["name"] = "credit_strict"
    next(f for f in manifest["inputs"] if f["name"] == "income")["nullable"] = False
    (strict / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.fixture(scope="session")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="session")
def service(service_repo: Path, audit_log: Path) -> Iterator[str]:
    """The shared server: 2 workers, ONNX engine, small limits, every request audited with its data."""
    with running_service(service_repo, workers=2, args=[*SERVICE_ARGS, "--audit-log", str(audit_log)]) as base:
        yield base


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
