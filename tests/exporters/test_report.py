"""The report reads true: gates pass or fail, pypmml is reported (never a FAIL beside passing gates),
and an absent artifact is listed with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exporters.report import exclusion_line, failure_message, format_table
from scorebridge.bundle import Bundle

ROOT = Path(__file__).resolve().parents[2]


def _lines(table: str) -> dict[str, str]:
    return {line.split()[0]: line for line in table.splitlines()[2:] if line and not line.startswith(" ")}


def test_pypmml_is_reported_not_failed_beside_passing_gates(tiny_bundle_dir) -> None:
    manifest = Bundle.load(tiny_bundle_dir).manifest
    pypmml = manifest["fidelity"]["pypmml"]
    assert not pypmml["passed"] and pypmml["rows_over_tolerance"] > 0, "the case must make pypmml differ"
    table = format_table(manifest["fidelity"], excluded=manifest["excluded"])
    assert "FAIL" not in table and "not in the bundle" not in table
    rows = _lines(table)
    assert table.splitlines()[0].split()[:3] == ["artifact", "evaluator", "role"]
    for gate in ("pmml", "onnx", "xgboost"):
        assert rows[gate].split()[-1] == "pass" and " gate " in rows[gate]
    assert " reported " in rows["pypmml"]
    assert rows["pypmml"].endswith(f"differs on {pypmml['rows_over_tolerance']} rows (reported, not a gate)")


def test_verify_cli_reads_the_same(tiny_bundle_dir) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "scorebridge", "verify", str(tiny_bundle_dir), "--data",
                          str(tiny_bundle_dir / "verification.parquet")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "FAIL" not in out.stdout and "(reported, not a gate)" in out.stdout
    assert _lines(out.stdout.split("\n", 1)[1])["onnx"].endswith(" pass")


def test_failing_gates_errors_and_exclusions_are_worded_apart() -> None:
    fidelity = {
        "pmml": {"evaluator": "jpmml-evaluator 1.7.7", "rows": 9, "max_abs_diff": 0.2, "label_agreement": 0.9,
                 "rows_over_tolerance": 2, "tolerance": 1e-5, "passed": False, "gating": True},
        "onnx": {"evaluator": "onnxruntime", "error": "EngineError: cannot load", "passed": False, "gating": True},
        "pypmml": {"evaluator": "pypmml", "error": "Py4JError: gone", "passed": False, "gating": False},
    }
    excluded = {"pmml": {"reason": "fidelity", "evaluator": "jpmml-evaluator 1.7.7", "rows": 9,
                         "max_abs_diff": 0.2, "rows_over_tolerance": 2, "tolerance": 1e-5,
                         "worst_rows": ["missing c1", "sample"]},
                "xgboost": {"reason": "not_requested"}}
    rows = _lines(format_table(fidelity, excluded=excluded))
    assert rows["pmml"].endswith("FAIL: not written")
    assert rows["onnx"].endswith("ERROR (EngineError: cannot load)")
    assert rows["pypmml"].endswith("could not run (Py4JError: gone)") and "FAIL" not in rows["pypmml"]
    table = format_table(fidelity, excluded=excluded)
    assert "not in the bundle:\n  pmml: jpmml-evaluator 1.7.7 disagrees" in table and "xgboost" not in table
    assert exclusion_line("pmml", excluded["pmml"]) == (
        "pmml: jpmml-evaluator 1.7.7 disagrees with the native pipeline by 0.2 (difference; tolerance 1e-05) on 2 "
        "of 9 verification rows, worst on the row with a missing c1, then sample rows")
    line = exclusion_line("pmml", excluded["pmml"])
    assert failure_message(excluded, None, []) == (
        "nothing was written: no artifact converted faithfully: " + line + " (to fix: impute c1 "
        "inside the pipeline so every runtime scores a missing value the same way, or raise "
        "the tolerance if that difference is acceptable)")


def test_exclusion_lines_per_reason() -> None:
    assert exclusion_line("onnx", {"reason": "conversion", "converter": "skl2onnx", "step": "'pre' > 'bins' "
                                   "(KBinsDiscretizer)", "message": "RuntimeError: no converter"}) == \
        "onnx: skl2onnx cannot convert 'pre' > 'bins' (KBinsDiscretizer): RuntimeError: no converter"
    assert exclusion_line("pmml", {"reason": "conversion", "converter": "sklearn2pmml", "step": None,
                                   "message": "boom"}) == "pmml: sklearn2pmml cannot convert the pipeline: boom"
    assert exclusion_line("onnx", {"reason": "denylist", "step": "'impute' (SimpleImputer)", "message": "why",
                                   "instead": "what"}) == "onnx: 'impute' (SimpleImputer) is on the denylist: why"
    assert exclusion_line("pmml", {"reason": "unavailable", "message": "no Java runtime found"}) == \
        "pmml: no Java runtime found"
    assert exclusion_line("onnx", {"reason": "evaluation", "evaluator": "onnxruntime", "message": "bad graph"}) == \
        "onnx: onnxruntime could not score the verification rows: bad graph"
