"""The README's main job, end to end, exactly as a newcomer runs it (minus the install)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import requests

from scoring_service.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_every_stage(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scorebridge", "quickstart", "--workdir", str(tmp_path / "qs")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for model in ("credit_risk", "wine_class", "diabetes_progression"):
        assert str(tmp_path / "qs" / "models" / model / "1") in out
    assert out.count("jpmml-evaluator 1.7.7") == 3
    assert '"engine": "onnx"' in out                        # scored over HTTP
    assert "in-process PMML" in out                          # the Java stage ran both ways
    assert "_SUCCESS" in out and "_RUN.json" in out          # the batch stage wrote a partition
    assert (tmp_path / "qs" / "batch" / "warehouse" / "scores" / "dt=2026-11-21" / "_SUCCESS").is_file()
    # bootstrap installs redis-server: the batch published its features and a record scored by key alone
    published = tmp_path / "qs" / "batch" / "warehouse" / "scores" / "dt=2026-11-21" / "_PUBLISHED.json"
    assert published.is_file() and '"feature_set": "credit_risk"' in published.read_text()
    assert '{"records": [{"user_id": 1}]}' in out and '"batch": "2026-11-21"' in out
    assert "the full record of user 1 sent in the request gets the same answer" in out
    # the gating artifacts passed for every model
    gating = [ln for ln in out.splitlines() if ln.startswith(("pmml ", "onnx "))]
    assert len(gating) == 6 and all(ln.rstrip().endswith("pass") for ln in gating), gating

    # it ends with the command that opens the console over the models and the nightly run: run it
    run_line, open_line = out.rstrip().splitlines()[-3:-1]
    qs = tmp_path / "qs"
    assert run_line == (f"run   scorebridge console --repo {shlex.quote(str((qs / 'models').resolve()))} "
                        f"--jobs {shlex.quote(str((qs / 'batch').resolve()))} --port 8090")
    assert open_line == "open  http://127.0.0.1:8090/ui/"
    port = free_port()
    command = [sys.executable, "-m", *shlex.split(run_line[len("run   "):])[:-1], str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    console = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert console.poll() is None and time.monotonic() < deadline, "the printed console did not start"
            time.sleep(0.2)
        overview = requests.get(f"{base}/ui/api/models", timeout=30).json()
        assert [m["name"] for m in overview["models"]] == ["credit_risk", "diabetes_progression", "wine_class"]
        (job,) = overview["jobs"]
        assert job["job"] == "credit_nightly" and job["last_run"]["status"] == "success"
        assert job["last_run"]["ds"] == "2026-11-21" and job["last_run"]["rows"] > 0
        assert requests.get(f"{base}/ui/", timeout=30).status_code == 200
    finally:
        console.terminate()
        console.wait(timeout=30)
