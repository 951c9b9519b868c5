"""What the registry refuses (symlinks out of the repository, manifests that disagree with their
directory), and that every worker reaches the same verdict: a respawned worker and its sibling serve
the same versions after a version's files changed in place."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
import requests

from scoring_service.registry import ModelRegistry
from scoring_service.testing import running_service, worker_pids
from service.helpers import drop_version, json_records, verification


@pytest.fixture
def repo(sample_repo: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "models"
    shutil.copytree(sample_repo / "credit_risk" / "1", repo / "credit_risk" / "1")
    return repo


def test_symlinks_out_of_the_repository_are_refused(repo: Path, sample_repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(sample_repo / "wine_class", elsewhere / "wine_class")
    shutil.copytree(sample_repo / "diabetes_progression" / "1", elsewhere / "regression")
    (repo / "wine_class").symlink_to(elsewhere / "wine_class")  # a model directory that is a link out
    (repo / "credit_risk" / "7").symlink_to(elsewhere / "regression")  # a version directory that is one
    inner = repo / "credit_risk" / "1"
    shutil.copytree(inner, repo / "credit_risk" / "8")
    (repo / "credit_risk" / "8" / "model.onnx").unlink()
    (repo / "credit_risk" / "8" / "model.onnx").symlink_to(elsewhere / "regression" / "model.onnx")  # a file
    registry = ModelRegistry(repo)
    report = registry.reload()
    assert set(report.refused) == {"wine_class/1", "credit_risk/7", "credit_risk/8"}, report.refused
    assert "leads out of the repository" in report.refused["credit_risk/7"]
    assert "model.onnx is a symlink" in report.refused["credit_risk/8"]
    assert registry.snapshot.latest == {"credit_risk": "1"}
    assert str(tmp_path) not in json.dumps(report.to_dict())


def test_a_link_inside_the_repository_is_judged_by_its_manifest(repo: Path) -> None:
    (repo / "credit_risk" / "latest").symlink_to(repo / "credit_risk" / "1")
    report = ModelRegistry(repo).reload()
    assert "sits in credit_risk/latest" in report.refused["credit_risk/latest"]


def test_manifests_that_disagree_with_their_directory_are_refused(repo: Path, sample_repo: Path) -> None:
    shutil.copytree(sample_repo / "wine_class" / "1", repo / "wine_copy" / "1")  # manifest still says wine_class
    shutil.copytree(repo / "credit_risk" / "1", repo / "credit_risk" / "5")  # manifest still says version 1
    registry = ModelRegistry(repo)
    report = registry.reload()
    assert ("the manifest says model 'wine_class' version '1', but it sits in wine_copy/1"
            in report.refused["wine_copy/1"])
    assert "version '1', but it sits in credit_risk/5" in report.refused["credit_risk/5"]
    assert registry.snapshot.latest == {"credit_risk": "1"} and not registry.is_ready()  # wine_copy has none


def test_every_worker_reaches_the_same_verdict(repo: Path, sample_repo: Path, tmp_path: Path) -> None:
    """Version 2's model changes in place (its mtime put back, as a careless copy would): a respawned worker
    loads from disk and refuses it, and has its sibling rescan, so both serve version 1 at once."""
    _, inputs, _ = verification(sample_repo, "credit_risk")
    payload = {"records": json_records(inputs.head(1))}
    drop_version(repo, "2")
    log = tmp_path / "serve.log"
    with running_service(repo, workers=2, log_path=log,
                         args=["--audit-log", "off", "--poll-interval", "0", "--cpu-affinity", "off"]) as base:
        deadline = time.monotonic() + 60
        while len(worker_pids(base)) < 2 or "listening on" not in log.read_text() or \
                log.read_text().count("; listening on") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _versions(base, payload) == {"2"}
        model = repo / "credit_risk" / "2" / "model.onnx"
        st = model.stat()
        with open(model, "r+b") as fh:  # same size, same mtime: only the ctime and the sha256 tell
            fh.seek(100)
            byte = fh.read(1)
            fh.seek(100)
            fh.write(bytes([byte[0] ^ 0xFF]))
        os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
        victim = worker_pids(base)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            pids = worker_pids(base)
            if len(pids) == 2 and victim not in pids and log.read_text().count("; listening on") >= 3:
                break
            assert time.monotonic() < deadline, "no replacement worker"
            time.sleep(0.2)
        time.sleep(1.0)  # the sibling's poller follows the new worker's rescan signal within 0.2 s
        assert _versions(base, payload, 16) == {"1"}
        ready = requests.get(f"{base}/readyz").json()
        assert "sha256 mismatch" in ready["refused"]["credit_risk"]["2"] and ready["models"] == {"credit_risk": "1"}
        assert str(repo) not in json.dumps(ready)
        metrics = requests.get(f"{base}/metrics").text
        assert re.search(r'scorebridge_bundles_refused\{model="credit_risk"\} 1\.0', metrics), metrics[-500:]
        r = requests.post(f"{base}/v1/models/credit_risk/versions/2/predict", json=payload)
        assert r.status_code == 404 and r.json()["error"]["code"] == "version_not_found"


def _versions(base: str, payload: dict, n: int = 12) -> set[str]:
    """Versions answered on ``n`` fresh connections (so both workers answer)."""
    return {requests.post(f"{base}/v1/models/credit_risk/predict", json=payload).json()["version"] for _ in range(n)}
