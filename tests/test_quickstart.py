"""The README's main job, end to end, exactly as a newcomer runs it (minus the install)."""

from __future__ import annotations

import subprocess
import sys


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
    # the gating artifacts passed for every model
    gating = [ln for ln in out.splitlines() if ln.startswith(("pmml ", "onnx "))]
    assert len(gating) == 6 and all(ln.rstrip().endswith("pass") for ln in gating), gating
