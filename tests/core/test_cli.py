"""The CLI end to end, as a user runs it: real files, real subprocesses, real exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def scorebridge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "scorebridge", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def assert_one_line_error(proc, fragment):
    assert proc.returncode != 0
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("scorebridge: error:")]
    assert len(err_lines) == 1, proc.stderr
    assert fragment in err_lines[0]


@pytest.mark.parametrize("engine, fmt", [("onnx", "csv"), ("pmml", "parquet")])
def test_predict_matches_native(credit_bundle, tmp_path, engine, fmt):
    verification = credit_bundle.read_verification()
    inputs = verification[credit_bundle.schema.names].copy()
    inputs.insert(0, "user_id", np.arange(len(inputs)))
    src = tmp_path / f"in.{fmt}"
    inputs.to_csv(src, index=False) if fmt == "csv" else inputs.to_parquet(src, index=False)
    out = tmp_path / f"out.{fmt}"
    proc = scorebridge("predict", credit_bundle.path.parent, "--input", src, "--output", out,
                       "--engine", engine, "--keep", "user_id")
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(scored.columns) == ["user_id", "label", "probability_0", "probability_1"]
    assert scored["user_id"].tolist() == list(range(len(inputs)))
    diff = np.abs(scored["probability_1"].to_numpy() - verification["native_probability_1"].to_numpy())
    assert diff.max() <= credit_bundle.manifest["tolerance"]["value"]


def test_native_engine_needs_trust(credit_bundle, tmp_path):
    src = tmp_path / "in.parquet"
    credit_bundle.read_verification()[credit_bundle.schema.names].to_parquet(src)
    out = tmp_path / "out.parquet"
    proc = scorebridge("predict", credit_bundle.path, "--input", src, "--output", out, "--engine", "native")
    assert_one_line_error(proc, "--trust-pickles")
    assert not out.exists()
    proc = scorebridge("predict", credit_bundle.path, "--input", src, "--output", out, "--engine", "native",
                       "--trust-pickles")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out)) == len(credit_bundle.read_verification())


def test_predict_bad_input_writes_nothing(credit_bundle, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"income": [1.0]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    proc = scorebridge("predict", credit_bundle.path, "--input", src, "--output", out)
    assert_one_line_error(proc, "lacks column")
    assert not out.exists()


def test_verify_on_verification_rows(credit_bundle):
    proc = scorebridge("verify", credit_bundle.path,
                       "--data", credit_bundle.path / "verification.parquet")
    assert proc.returncode == 0, proc.stderr
    assert "pmml" in proc.stdout and "onnx" in proc.stdout and "pass" in proc.stdout


def test_export_from_files_and_bad_pickle(tmp_path):
    import joblib

    from sample_models import wine_class

    pipeline, sample = wine_class.train()
    joblib.dump(pipeline, tmp_path / "wine.joblib")
    sample.to_parquet(tmp_path / "sample.parquet")
    repo = tmp_path / "models"
    proc = scorebridge("export", tmp_path / "wine.joblib", "--sample", tmp_path / "sample.parquet",
                       "--name", "wine", "--repo", repo, "--target", "cultivar")
    assert proc.returncode == 0, proc.stderr
    assert str(repo / "wine" / "1") in proc.stdout and "jpmml-evaluator" in proc.stdout

    (tmp_path / "broken.joblib").write_bytes(b"not a pickle at all")
    proc = scorebridge("export", tmp_path / "broken.joblib", "--sample", tmp_path / "sample.parquet",
                       "--name", "broken", "--repo", repo)
    assert_one_line_error(proc, "cannot unpickle")
    assert not (repo / "broken").exists()


def test_verify_without_native_columns_needs_trust(credit_bundle, tmp_path):
    data = tmp_path / "holdout.parquet"
    credit_bundle.read_verification()[credit_bundle.schema.names].to_parquet(data)
    proc = scorebridge("verify", credit_bundle.path, "--data", data)
    assert_one_line_error(proc, "--trust-pickles")
    proc = scorebridge("verify", credit_bundle.path, "--data", data, "--trust-pickles")
    assert proc.returncode == 0, proc.stderr
    assert "onnx" in proc.stdout and "pass" in proc.stdout


def test_bad_formats_and_workdir(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = scorebridge("export", tmp_path / "file", "--sample", tmp_path / "file", "--name", "m",
                       "--formats", "bogus", "--repo", tmp_path / "models")
    assert_one_line_error(proc, "unknown format(s) bogus")
    assert not (tmp_path / "models").exists()
    proc = scorebridge("quickstart", "--workdir", tmp_path / "file")
    assert_one_line_error(proc, "not a directory")


def test_a_command_group_that_cannot_import_says_why():
    """A broken or outdated install (a module of the serve group missing) is a one-line error naming
    the module when the command is used, not argparse's "invalid choice: 'serve'"."""
    code = ("import sys; sys.modules['online_features.lookup'] = None; from scorebridge.cli import main; "
            "sys.exit(main(['serve', '--repo', 'models', '--port', '8080']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "scorebridge: error: the serve command is unavailable: import of online_features.lookup halted; None in "
        "sys.modules; reinstall scorebridge (bash scripts/bootstrap.sh, or pip install -e . in a clone)"]
    other = scorebridge("batch", "status", "missing.toml")  # the other groups still work
    assert_one_line_error(other, "missing.toml")
