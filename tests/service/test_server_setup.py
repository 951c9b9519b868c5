"""How ``scorebridge serve`` sets up gunicorn: a listening socket per worker, thread pools per engine."""

from __future__ import annotations

import logging
import re
import socket
import tempfile
from pathlib import Path

import pytest

from scorebridge.engines import load_engine
from scoring_service.config import ServiceConfig
from scoring_service.server import thread_environment
from scoring_service.testing import listening_sockets, running_service
from service.helpers import drop_version


@pytest.mark.skipif(not Path("/proc/net/tcp").exists() or not hasattr(socket, "SO_REUSEPORT"),
                    reason="needs Linux's /proc/net/tcp and SO_REUSEPORT")
def test_each_worker_listens_on_its_own_socket_once_its_models_are_loaded(sample_repo: Path, tmp_path: Path) -> None:
    # one shared socket let a burst of keep-alive connections land on one worker (half the req/s)
    log = tmp_path / "serve.log"
    with running_service(sample_repo, workers=2, args=["--audit-log", "off", "--poll-interval", "0"],
                         log_path=log) as base:
        port = int(base.rsplit(":", 1)[1])
        assert listening_sockets(port) == 2  # running_service waits for both
    lines = log.read_text().splitlines()
    loaded_line = "models loaded (3 model(s), 3 version(s)); listening on"
    listening = {pid for pid, line in _by_pid(lines) if loaded_line in line}
    assert len(listening) == 2
    for pid in listening:  # a worker that listened had loaded every model first
        events = [line for p, line in _by_pid(lines) if p == pid]
        first_listen = next(i for i, line in enumerate(events) if "listening on" in line)
        loaded = [i for i, line in enumerate(events) if "loaded credit_risk/1" in line]
        assert loaded and loaded[0] < first_listen


def _by_pid(lines: list[str]) -> list[tuple[str, str]]:
    """(pid, line) for log lines formatted ``[time] [pid] [LEVEL] ...``."""
    out = []
    for line in lines:
        match = re.match(r"\[[^]]+\] \[(\d+)\]", line)
        if match:
            out.append((match.group(1), line))
    return out


def test_a_temporary_server_log_is_removed_on_exit(sample_repo: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with running_service(sample_repo, args=["--audit-log", "off", "--poll-interval", "0"]):
        logs = list(tmp_path.glob("scorebridge-serve-*.log"))
        assert len(logs) == 1 and "; listening on" in logs[0].read_text()
    assert not list(tmp_path.glob("scorebridge-serve-*.log"))


def test_the_listening_line_names_refused_bundles(repo_copy: Path, tmp_path: Path) -> None:
    drop_version(repo_copy, "2", tamper=True)  # refused; credit_risk/1 keeps the server ready
    log = tmp_path / "serve.log"
    with running_service(repo_copy, args=["--audit-log", "off", "--poll-interval", "0"], log_path=log):
        pass
    line = next(line for line in log.read_text().splitlines() if "; listening on" in line)
    assert "models loaded (3 model(s), 3 version(s)); refused credit_risk/2 (ready); listening on" in line


def test_openmp_is_capped_only_for_the_native_engine(tmp_path: Path) -> None:
    onnx = thread_environment(ServiceConfig(repo=tmp_path, engine="onnx"))
    assert "OMP_NUM_THREADS" not in onnx  # it would cap the XGBoost fast path's nthread
    assert onnx["OPENBLAS_NUM_THREADS"] == "1"
    native = thread_environment(ServiceConfig(repo=tmp_path, engine="native", trust_pickles=True))
    assert native["OMP_NUM_THREADS"] == "1"


def test_xgboost_engine_warns_when_openmp_is_capped(sample_repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with caplog.at_level(logging.WARNING, logger="scorebridge.engines.xgboost"):
        load_engine(sample_repo / "credit_risk", "xgboost", threads=2)
    assert "OMP_NUM_THREADS=1 caps XGBoost at 1 thread" in caplog.text
    caplog.clear()
    monkeypatch.delenv("OMP_NUM_THREADS")
    with caplog.at_level(logging.WARNING, logger="scorebridge.engines.xgboost"):
        load_engine(sample_repo / "credit_risk", "xgboost", threads=2)
    assert "caps XGBoost" not in caplog.text


def test_native_engine_pins_n_jobs(sample_repo: Path) -> None:
    engine = load_engine(sample_repo / "credit_risk", "native", trust_pickles=True, threads=1)
    jobs = {k: v for k, v in engine.pipeline.get_params(deep=True).items() if k.endswith("n_jobs")}
    assert jobs and set(jobs.values()) == {1}
