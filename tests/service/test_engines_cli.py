"""The PMML and native engines behind the real server, and `serve`'s refusals of bad setups."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from scoring_service.cli import config_from_args, register, run_serve
from scoring_service.testing import running_service
from service.helpers import assert_matches_native, json_records, predictions_to_columns, verification


@pytest.fixture(scope="module")
def credit_only(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    repo = tmp_path_factory.mktemp("engines") / "models"
    shutil.copytree(sample_repo / "credit_risk", repo / "credit_risk")
    return repo


@pytest.mark.parametrize(("engine", "args"), [("pmml", []), ("native", ["--trust-pickles"])])
def test_engine_matches_native(credit_only: Path, engine: str, args: list[str]) -> None:
    bundle, inputs, native = verification(credit_only, "credit_risk")
    with running_service(credit_only, engine=engine, args=[*args, "--audit-log", "off"]) as base:
        r = requests.post(f"{base}/v1/models/credit_risk/predict", json={"records": json_records(inputs)})
        assert r.status_code == 200, r.text
        assert r.json()["engine"] == engine
        assert_matches_native(bundle, native, predictions_to_columns(bundle, r.json()["predictions"]), engine)


def _serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scoring_service.server", *args], capture_output=True, text=True,
                          timeout=60)


def test_native_engine_needs_trust(credit_only: Path) -> None:
    done = _serve("--repo", str(credit_only), "--engine", "native", "--port", "0")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "--trust-pickles" in last and last.startswith("scorebridge serve: error:")


def test_missing_repository_is_one_line(tmp_path: Path) -> None:
    done = _serve("--repo", str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("scorebridge serve: error:")
    assert "does not exist" in done.stderr


def test_port_in_use_is_one_line(credit_only: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = _serve("--repo", str(credit_only), "--port", str(busy.getsockname()[1]))
    assert done.returncode != 0
    assert "cannot listen on 127.0.0.1" in done.stderr.strip().splitlines()[-1]


def test_register_adds_serve(credit_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="scorebridge")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--repo", str(credit_only), "--workers", "3", "--engine", "pmml",
                              "--audit-log", "off", "--max-records", "7"])
    assert args.func is run_serve and args.workers == 3
    monkeypatch.setenv("SCOREBRIDGE_ADMIN_TOKEN", "t0k")
    config = config_from_args(args)
    assert (config.repo, config.engine, config.audit_log, config.max_records, config.admin_token) == (
        credit_only, "pmml", None, 7, "t0k")
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--repo", str(credit_only), "--engine", "pypmml"])
