"""The local engine and partition semantics, on real files."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from batch_jobs.demo import run_demo, write_sample_partition
from batch_jobs.errors import JobSpecError, PartitionBusyError, UpstreamNotReadyError
from batch_jobs.history import RunHistory
from batch_jobs.partition import LOCK, SUCCESS, recover, table_lock
from batch_jobs.runner import backfill, run_job
from batch_jobs.spec import load_job
from scorebridge.bundle import Bundle
from scorebridge.errors import SchemaError

from .conftest import DS, job_doc, run_cli


def visible(table: Path) -> list[str]:
    """What a Hive/Spark reader lists in a table directory (hidden names are skipped)."""
    return sorted(p.name for p in table.iterdir() if not p.name.startswith((".", "_")))


def assert_matches_native(out: pd.DataFrame, bundle: Bundle, keep: str = "user_id") -> None:
    """Scores equal the native pipeline's (verification.parquet) within the bundle's ONNX tolerance."""
    ref = bundle.read_verification().reset_index(drop=True)
    out = out.sort_values(keep).reset_index(drop=True)
    assert len(out) == len(ref)
    tol = bundle.manifest["fidelity"]["onnx"]["tolerance"]
    for col in bundle.output_columns:
        if col == "label":
            continue
        native = ref[f"native_{col}"].to_numpy()
        diff = np.abs(out[col].to_numpy() - native)
        if col == "prediction":  # regression tolerances are relative to max(1, |y|)
            diff = diff / np.maximum(1.0, np.abs(native))
        assert diff.max() <= tol, f"{col}: max abs diff {diff.max()} > {tol}"
    if "label" in bundle.output_columns:
        proba = np.sort(ref[[f"native_probability_{c}" for c in bundle.classes]].to_numpy(), axis=1)
        decisive = (proba[:, -1] - proba[:, -2]) > tol
        assert (out["label"].astype(str) == ref["native_label"].astype(str))[decisive].all()


def test_run_writes_native_scores_with_success_and_run_record(tmp_path, partition, write_job, credit_bundle):
    partition()
    spec = load_job(write_job(job_doc(credit_bundle.path)))
    result = run_job(spec, DS, tty=False)
    part = tmp_path / "warehouse/scores" / f"dt={DS}"
    assert result.partition == part
    assert sorted(p.name for p in part.iterdir()) == ["_RUN.json", SUCCESS, "part-00000.parquet"]
    out = pq.read_table(part / "part-00000.parquet").to_pandas()
    assert list(out.columns) == ["user_id", "label", "probability_0", "probability_1"]
    assert out["label"].dtype == np.int64
    assert_matches_native(out, credit_bundle)

    record = json.loads((part / "_RUN.json").read_text())
    manifest = credit_bundle.manifest
    assert record["job"] == "credit_nightly" and record["ds"] == DS and record["engine"] == "local"
    assert record["model"]["name"] == manifest["name"] and record["model"]["version"] == manifest["version"]
    # runtime auto: the XGBoost fast path, whose booster the record names
    assert (record["model"]["engine"], record["model"]["artifact"]) == ("xgboost", "model.ubj")
    assert record["model"]["sha256"] == manifest["artifacts"]["xgboost_booster"]["sha256"]
    assert record["rows_in"] == record["rows_out"] == len(out) == len(credit_bundle.read_verification())
    score = record["summary"]["scores"]["probability_1"]
    assert score["count"] == len(out)
    assert score["mean"] == pytest.approx(out["probability_1"].mean())
    assert score["max"] == pytest.approx(out["probability_1"].max())
    # the input *is* the verification set, so the distribution matches it exactly
    assert score["psi"]["value"] < 1e-3 and record["summary"]["drift"] == "stable"
    assert record["summary"]["labels"] == {str(k): int(v) for k, v in out["label"].value_counts().items()}
    assert record["duration_s"] > 0


def test_drifted_input_shows_in_psi(tmp_path, write_job, credit_bundle):
    ref = credit_bundle.read_verification()
    risky = ref[ref["native_probability_1"] > 0.5]
    shifted = ref.loc[np.repeat(risky.index.to_numpy(), 4)][credit_bundle.schema.names]
    shifted.insert(0, "user_id", np.arange(len(shifted)))
    part = tmp_path / "warehouse/features" / f"dt={DS}"
    part.mkdir(parents=True)
    shifted.to_parquet(part / "data.parquet", index=False)
    (part / SUCCESS).touch()
    result = run_job(load_job(write_job(job_doc(credit_bundle.path))), DS, tty=False)
    summary = result.record["summary"]
    assert summary["psi_max"] > 0.25 and summary["drift"] == "significant"


def test_rerun_overwrites_and_leaves_other_partitions_alone(tmp_path, partition, write_job, credit_bundle):
    table = tmp_path / "warehouse/scores"
    other = table / "dt=2026-11-20"
    other.mkdir(parents=True)
    (other / "part-00000.parquet").write_bytes(b"yesterday's data")
    (other / SUCCESS).touch()
    spec = load_job(write_job(job_doc(credit_bundle.path)))

    partition(rows=1000, seed=1)
    first = run_job(spec, DS, tty=False)
    partition(rows=700, seed=2)  # upstream rewrote the day: the rerun must replace, not append
    second = run_job(spec, DS, tty=False)
    assert first.partition == second.partition
    assert visible(table) == ["dt=2026-11-20", f"dt={DS}"]
    assert sorted(p.name for p in table.iterdir() if p.name.startswith(".")) == [LOCK]  # no leftovers
    out = pq.read_table(second.partition)
    assert out.num_rows == 700 and sorted(out["user_id"].to_pylist()) == list(range(1, 701))
    assert json.loads((second.partition / "_RUN.json").read_text())["rows_out"] == 700
    assert (other / "part-00000.parquet").read_bytes() == b"yesterday's data"


def test_missing_input_fails_after_the_wait_and_writes_nothing(tmp_path, write_job, credit_bundle):
    spec = load_job(write_job(job_doc(credit_bundle.path, input={"wait_timeout": "0.6s"})))
    start = time.monotonic()
    with pytest.raises(UpstreamNotReadyError, match=r"dt=2026-11-21 does not exist after waiting 0.6s"):
        run_job(spec, DS, tty=False)
    assert time.monotonic() - start >= 0.6
    assert not (tmp_path / "warehouse").exists()
    runs = RunHistory(spec.state_dir).recent("credit_nightly")
    assert [r["status"] for r in runs] == ["failed"] and "does not exist" in runs[0]["message"]


def test_missing_success_marker_fails_with_a_clear_message(tmp_path, partition, write_job, credit_bundle):
    partition(success=False)
    spec = load_job(write_job(job_doc(credit_bundle.path, input={"wait_timeout": "0.5s"})))
    proc = run_cli("batch", "run", str(spec.source), "--date", DS, cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"scorebridge: error: input partition {tmp_path}/warehouse/features/dt={DS} has no _SUCCESS marker "
        "after waiting 0.5s (input.wait_timeout): the upstream job has not finished it; nothing was written")
    assert not (tmp_path / "warehouse/scores").exists()


def test_waits_for_a_marker_that_arrives(tmp_path, partition, write_job, credit_bundle):
    partition(success=False)
    spec = load_job(write_job(job_doc(credit_bundle.path, input={"wait_timeout": "30s"})))
    marker = spec.input.partition(DS) / SUCCESS
    threading.Timer(0.5, marker.touch).start()
    start = time.monotonic()
    result = run_job(spec, DS, tty=False)
    assert 0.5 <= time.monotonic() - start < 30 and result.rows == len(credit_bundle.read_verification())


def test_no_wait_when_not_asked(tmp_path, partition, write_job, credit_bundle):
    partition(success=False)
    spec = load_job(write_job(job_doc(credit_bundle.path, input={"wait_for_success": False})))
    assert run_job(spec, DS, tty=False).rows > 0


def test_csv_input_and_small_batches(tmp_path, write_job, credit_bundle):
    table = write_sample_partition(credit_bundle, tmp_path / "staging", None, success=False)
    part = tmp_path / "warehouse/features" / f"dt={DS}"
    part.mkdir(parents=True)
    pacsv.write_csv(table, part / "data.csv")
    (part / SUCCESS).touch()
    spec = load_job(write_job(job_doc(credit_bundle.path, input={"format": "csv"}, local={"batch_size": 50})))
    seen: list[int] = []
    result = run_job(spec, DS, tty=False, on_batch=seen.append)
    assert seen == [50, 100, 150, 200, table.num_rows]  # streamed in batches, not read whole
    assert_matches_native(pq.read_table(result.partition).to_pandas(), credit_bundle)


@pytest.mark.parametrize("model", ["wine_class", "diabetes_progression"])
def test_other_tasks(tmp_path, write_job, sample_repo, model):
    bundle = Bundle.load(sample_repo / model)
    write_sample_partition(bundle, tmp_path / "warehouse/features" / f"dt={DS}")
    result = run_job(load_job(write_job(job_doc(bundle.path))), DS, tty=False)
    out = pq.read_table(result.partition).to_pandas()
    assert list(out.columns) == ["user_id", *bundle.output_columns]
    assert_matches_native(out, bundle)
    scores = result.record["summary"]["scores"]
    expected = ["prediction"] if bundle.task == "regression" else [f"probability_{c}" for c in bundle.classes]
    assert sorted(scores) == sorted(expected) and all("psi" in s for s in scores.values())


def test_native_runtime_with_parallel_batches(tmp_path, partition, write_job, credit_bundle):
    partition()
    spec = load_job(write_job(job_doc(credit_bundle.path, local={"runtime": "native", "trust_pickles": True,
                                                                 "threads": 2, "batch_size": 40})))
    result = run_job(spec, DS, tty=False)
    assert result.record["scoring"].startswith("scikit-learn") and "2 batches in parallel" in result.record["scoring"]
    out = pq.read_table(result.partition).to_pandas()
    assert out["user_id"].tolist() == sorted(out["user_id"])  # batches scored in parallel, written in order
    assert_matches_native(out, credit_bundle)


def test_bad_input_columns(tmp_path, partition, write_job, credit_bundle):
    partition()
    spec = load_job(write_job(job_doc(credit_bundle.path, output={"keep_columns": ["customer_id"]})))
    with pytest.raises(JobSpecError, match="output.keep_columns: the input .* has no column 'customer_id'"):
        run_job(spec, DS, tty=False)
    part = tmp_path / "warehouse/features" / f"dt={DS}"
    frame = pd.read_parquet(part).assign(income="lots")
    frame.to_parquet(part / "part-00000.parquet", index=False)
    spec = load_job(write_job(job_doc(credit_bundle.path)))
    expected = r"dt=2026-11-21: column 'income' is (large_)?string; the model expects numbers"
    with pytest.raises(SchemaError, match=expected):
        run_job(spec, DS, tty=False)
    assert visible(tmp_path / "warehouse/scores") == []


def test_a_second_writer_is_refused(tmp_path, partition, write_job, credit_bundle):
    partition()
    spec = load_job(write_job(job_doc(credit_bundle.path)))
    with table_lock(spec.output.path), pytest.raises(PartitionBusyError, match=r"is being written by pid \d+"):
        run_job(spec, DS, tty=False)
    assert run_job(spec, DS, tty=False).rows > 0


def test_recover_restores_a_partition_left_aside(tmp_path):
    table = tmp_path / "scores"
    aside = table / ".dt=2026-11-21.old-1234abcd"
    aside.mkdir(parents=True)
    (aside / SUCCESS).touch()
    (table / ".dt=2026-11-21.tmp-99999999").mkdir()
    recover(table)
    assert sorted(p.name for p in table.iterdir()) == ["dt=2026-11-21"]
    assert (table / "dt=2026-11-21" / SUCCESS).exists()


def test_backfill_runs_each_day_in_order(tmp_path, partition, write_job, credit_bundle):
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    for i, ds in enumerate(days):
        partition(ds, rows=100 + i)
    spec = load_job(write_job(job_doc(credit_bundle.path)))
    results = backfill(spec, days[0], days[-1], tty=False)
    assert [r.ds for r in results] == days and [r.rows for r in results] == [100, 101, 102]
    assert visible(tmp_path / "warehouse/scores") == [f"dt={d}" for d in days]
    runs = RunHistory(spec.state_dir).recent(spec.name)
    assert [(r["ds"], r["trigger"], r["status"]) for r in reversed(runs)] == [(d, "backfill", "success") for d in days]


def test_cli_run_backfill_status(tmp_path, partition, write_job, credit_bundle):
    for ds in ("2026-11-20", DS):
        partition(ds)
    job = write_job(job_doc(credit_bundle.path))
    proc = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"credit_nightly dt={DS}: {len(credit_bundle.read_verification())} rows scored")
    assert proc.stdout.strip().endswith(f"-> {tmp_path}/warehouse/scores/dt={DS}")
    proc = run_cli("batch", "backfill", str(job), "--start", "2026-11-20", "--end", "2026-11-22", cwd=tmp_path)
    assert proc.returncode != 0
    assert "backfill stopped at 2026-11-22 (2 of 3 days done)" in proc.stderr
    proc = run_cli("batch", "status", str(job), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line[:4].isdigit()]
    assert [(r[2], r[3], r[4]) for r in rows] == [("2026-11-22", "backfill", "failed"),
                                                  ("2026-11-21", "backfill", "success"),
                                                  ("2026-11-20", "backfill", "success"),
                                                  ("2026-11-21", "manual", "success")]


def test_demo_returns_the_output_partition(tmp_path, credit_bundle):
    out = run_demo(tmp_path / "demo", credit_bundle.path)
    assert out == tmp_path / "demo/warehouse/scores/dt=2026-11-21"
    assert (out / SUCCESS).exists()
    assert_matches_native(pq.read_table(out).to_pandas(), credit_bundle)
