"""The Spark engine in ``local[2]`` mode, both I/O modes: same layout, same scores, Hive INSERT OVERWRITE.

One SparkSession (with Hive support, metastore in a temporary directory) serves the module; the
tests are few and small because Spark starts slowly on two cores.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from batch_jobs.errors import BatchError, PartitionBusyError
from batch_jobs.history import RunHistory
from batch_jobs.partition import SUCCESS
from batch_jobs.runner import backfill, run_job
from batch_jobs.spec import load_job

from .conftest import DS, job_doc
from .test_failures import corrupt_last_page, corrupt_page_header, snapshot
from .test_local import assert_matches_native, visible
from .test_locks import OTHER, holding

pytest.importorskip("pyspark")
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    base = tmp_path_factory.mktemp("spark")
    session = (SparkSession.builder.master("local[2]").appName("scorebridge-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.warehouse.dir", str(base / "warehouse"))
               .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                       f"jdbc:derby:;databaseName={base}/metastore_db;create=true")
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={base}")
               .enableHiveSupport()
               .getOrCreate())
    yield session
    session.stop()


@pytest.mark.parametrize("io", ["arrow", "dataframe"])
def test_spark_matches_local_and_native_and_overwrites_hive(spark, tmp_path, partition, write_job, credit_bundle, io):
    partition(rows=5000, seed=3)
    local_job = write_job(job_doc(credit_bundle.path, output={"path": "warehouse/local_scores"}), "local.toml")
    local = pq.read_table(run_job(load_job(local_job), DS, tty=False).partition).to_pandas()

    table = f"default.credit_scores_{io}"
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", output={"hive_table": table},
                                      spark={"master": "local[2]", "io": io, "max_records_per_batch": 1000})))
    for _ in range(2):  # the rerun must replace the partition and the Hive partition
        result = run_job(spec, DS, tty=False)
    part = result.partition
    assert visible(spec.output.path) == [f"dt={DS}"]
    names = sorted(p.name for p in part.iterdir() if not p.name.startswith("."))
    assert names[:2] == ["_RUN.json", SUCCESS] and all(n.endswith(".parquet") for n in names[2:])
    out = pq.read_table(part).to_pandas().sort_values("user_id").reset_index(drop=True)
    assert list(out.columns) == ["user_id", "label", "probability_0", "probability_1"]
    local = local.sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_series_equal(out["label"], local["label"])
    assert np.abs(out["probability_1"] - local["probability_1"]).max() < 1e-6
    assert len(out) == 5000

    record = json.loads((part / "_RUN.json").read_text())
    assert record["engine"] == "spark" and record["rows_in"] == record["rows_out"] == 5000
    assert f'io = "{io}"' in record["scoring"]
    # runtime auto: the XGBoost fast path, whose booster the record names
    assert (record["model"]["engine"], record["model"]["artifact"]) == ("xgboost", "model.ubj")
    assert record["model"]["sha256"] == credit_bundle.manifest["artifacts"]["xgboost_booster"]["sha256"]
    assert record["summary"]["scores"]["probability_1"]["count"] == 5000
    assert record["summary"]["scores"]["probability_1"]["mean"] == pytest.approx(out["probability_1"].mean())

    hive = spark.sql(f"SELECT COUNT(*) AS n, SUM(probability_1) AS s FROM {table} WHERE dt = '{DS}'")
    n, s = hive.collect()[0]
    assert n == 5000 and s == pytest.approx(out["probability_1"].sum())


@pytest.mark.parametrize("io", ["arrow", "dataframe"])
def test_spark_verification_rows_and_bad_input(spark, tmp_path, partition, write_job, credit_bundle, io):
    partition()
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", spark={"io": io})))
    assert_matches_native(pq.read_table(run_job(spec, DS, tty=False).partition).to_pandas(), credit_bundle)

    bad = spec.input.partition(DS) / "part-00000.parquet"
    pd.read_parquet(bad).assign(region=1.5).to_parquet(bad, index=False)
    before = sorted(p.name for p in spec.output.partition(DS).iterdir())
    with pytest.raises(BatchError, match="column 'region' is double; the model expects strings"):
        run_job(spec, DS, tty=False)
    assert sorted(p.name for p in spec.output.partition(DS).iterdir()) == before
    assert not [p for p in spec.output.path.iterdir() if ".tmp-" in p.name]


def test_arrow_io_runs_a_task_per_file_and_merges_their_summaries(spark, tmp_path, partition, write_job,
                                                                   credit_bundle):
    table = partition(rows=6000, seed=5)
    source = tmp_path / "warehouse" / "features" / f"dt={DS}"
    (source / "part-00000.parquet").unlink()
    for i, rows in enumerate(((0, 1000), (1000, 3500), (3500, 6000))):  # three files: three splits
        pq.write_table(table.slice(rows[0], rows[1] - rows[0]), source / f"part-{i:05d}.parquet", row_group_size=700)
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", spark={"max_records_per_batch": 512})))
    result = run_job(spec, DS, tty=False)
    record = result.record
    assert "3 tasks reading and writing with pyarrow" in record["scoring"]
    assert record["output"]["files"] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert not (result.partition / ".tasks").exists()
    out = pq.read_table(result.partition).to_pandas()
    assert sorted(out["user_id"]) == list(range(1, 6001))  # each row exactly once

    local_job = write_job(job_doc(credit_bundle.path, output={"path": "warehouse/local_scores"}), "local.toml")
    local = run_job(load_job(local_job), DS, tty=False).record
    merged, single = record["summary"], local["summary"]
    assert merged["labels"] == single["labels"]
    assert merged["psi_max"] == pytest.approx(single["psi_max"], abs=1e-6)
    score, ref = merged["scores"]["probability_1"], single["scores"]["probability_1"]
    assert score["count"] == ref["count"] == 6000
    assert score["mean"] == pytest.approx(ref["mean"], rel=1e-6)
    assert score["quantiles"] == pytest.approx(ref["quantiles"], abs=1e-6)  # all 6,000 rows fit the sample


def test_unknown_io_mode_names_the_key(write_job, credit_bundle):
    from batch_jobs.errors import JobSpecError

    with pytest.raises(JobSpecError, match=r"spark\.io: unknown I/O mode 'rdd'"):
        load_job(write_job(job_doc(credit_bundle.path, engine="spark", spark={"io": "rdd"})))


def hive_rows(spark, table: str, ds: str = DS) -> tuple[int, float | None]:
    spark.sql(f"REFRESH TABLE {table}")
    n, total = spark.sql(f"SELECT COUNT(*), SUM(probability_1) FROM {table} WHERE dt = '{ds}'").collect()[0]
    return n, total


def test_a_failing_hive_load_publishes_nothing(spark, tmp_path, partition, write_job, credit_bundle):
    partition(rows=1000, seed=1)
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", output={"hive_table": "default.atomic_ok"})))
    previous = run_job(spec, DS, tty=False).partition
    files = snapshot(previous)
    # a table whose schema is not the job's (label is an array): the INSERT OVERWRITE cannot take the rows
    spark.sql("CREATE TABLE default.atomic_bad (user_id BIGINT, label ARRAY<INT>, probability_0 DOUBLE, "
              "probability_1 DOUBLE) PARTITIONED BY (dt STRING) STORED AS PARQUET")
    spark.sql(f"INSERT INTO default.atomic_bad PARTITION (dt='{DS}') SELECT 7, array(1), 0.5, 0.25")
    partition(rows=600, seed=2)
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", output={"hive_table": "default.atomic_bad"})))
    with pytest.raises(BatchError) as failed:
        run_job(spec, DS, tty=False)
    message = str(failed.value)
    assert message.startswith(f"output.hive_table default.atomic_bad: INSERT OVERWRITE of dt={DS} failed: ")
    assert message.endswith("; nothing was published") and "\n" not in message
    assert snapshot(previous) == files  # the partition of the first run, byte for byte
    assert hive_rows(spark, "default.atomic_bad") == (1, 0.25)  # and the table as it was
    assert hive_rows(spark, "default.atomic_ok")[0] == 1000
    assert not [p for p in spec.output.path.iterdir() if p.name.startswith(".dt=")]
    run = RunHistory(spec.state_dir).recent(spec.name, 1)[0]
    assert (run["status"], run["message"]) == ("failed", f"HiveError: {message}")


def test_a_missing_database_fails_before_scoring_and_the_backfill_says_which_dates(spark, tmp_path, partition,
                                                                                  write_job, credit_bundle):
    for ds in (OTHER, DS):
        partition(ds)
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", output={"hive_table": "nodb.scores"})))
    reason = ("output.hive_table nodb.scores: database 'nodb' does not exist (CREATE DATABASE nodb, or change "
              "output.hive_table); nothing was published")
    results, failures = backfill(spec, OTHER, DS, tty=False)
    assert results == [] and [(f.ds, str(f.error)) for f in failures] == [(OTHER, reason)]  # stopped there
    results, failures = backfill(spec, OTHER, DS, keep_going=True, tty=False)
    assert results == [] and [f.ds for f in failures] == [OTHER, DS]
    runs = RunHistory(spec.state_dir).recent(spec.name)
    assert [(r["ds"], r["status"], r["message"]) for r in reversed(runs)] == [
        (OTHER, "failed", f"HiveError: {reason}")] * 2 + [(DS, "failed", f"HiveError: {reason}")]
    assert visible(spec.output.path) == []


def test_an_external_table_over_the_output_gets_the_partition_added(spark, tmp_path, partition, write_job,
                                                                    credit_bundle):
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", output={"hive_table": "default.ext_scores"})))
    spec.output.path.mkdir(parents=True)
    spark.sql("CREATE EXTERNAL TABLE default.ext_scores (user_id BIGINT, label BIGINT, probability_0 DOUBLE, "
              f"probability_1 DOUBLE) PARTITIONED BY (dt STRING) STORED AS PARQUET LOCATION '{spec.output.path}'")
    for rows in (300, 200):  # the rerun replaces the files the table reads
        partition(rows=rows, seed=rows)
        result = run_job(spec, DS, tty=False)
    assert sorted(p.name for p in result.partition.iterdir())[:2] == ["_RUN.json", SUCCESS]  # ours, not Spark's
    assert [r[0] for r in spark.sql("SHOW PARTITIONS default.ext_scores").collect()] == [f"dt={DS}"]
    n, total = hive_rows(spark, "default.ext_scores")
    assert n == 200 and total == pytest.approx(pq.read_table(result.partition)["probability_1"].to_numpy().sum())


def test_local_and_spark_write_two_dates_of_a_table_at_once(spark, tmp_path, partition, write_job, credit_bundle):
    partition(DS, rows=2000, seed=1)
    partition(OTHER, rows=500, seed=2)
    local_job = write_job(job_doc(credit_bundle.path, local={"batch_size": 500}), "local.toml")
    spark_spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark"), "spark.toml"))
    assert spark_spec.output.path == load_job(local_job).output.path  # one table
    with holding(local_job, DS, tmp_path) as child:
        assert run_job(spark_spec, OTHER, tty=False).rows == 500  # while the local run is mid-write of DS
        assert child.poll() is None
        with pytest.raises(PartitionBusyError, match=rf"dt={DS} is being written by pid {child.pid} on "
                                                     rf"{socket.gethostname()}; wait for it to finish"):
            run_job(spark_spec, DS, tty=False)
    assert pq.read_table(spark_spec.output.partition(DS)).num_rows == 2000
    assert visible(spark_spec.output.path) == [f"dt={OTHER}", f"dt={DS}"]


@pytest.mark.parametrize(("io", "damage"), [("arrow", "page_data"), ("dataframe", "page_header")])
def test_a_corrupt_input_file_fails_in_one_line(spark, tmp_path, partition, write_job, credit_bundle, io, damage):
    table = partition(rows=1500, seed=6)
    source = spec_input = tmp_path / "warehouse" / "features" / f"dt={DS}"
    (source / "part-00000.parquet").unlink()
    for i in range(3):
        pq.write_table(table.slice(i * 500, 500), source / f"part-{i:05d}.parquet", row_group_size=250,
                       data_page_size=1024, write_page_checksum=True)
    bad = spec_input / "part-00001.parquet"
    (corrupt_last_page if damage == "page_data" else corrupt_page_header)(bad)
    spec = load_job(write_job(job_doc(credit_bundle.path, engine="spark", spark={"io": io})))
    with pytest.raises(BatchError) as failed:
        run_job(spec, DS, tty=False)
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"Spark job failed for {source}: ")
    if io == "arrow":  # the task's own error, from pyarrow verifying the page checksum
        assert f"cannot read input {bad}: could not verify page integrity, CRC checksum" in message
    else:  # Spark's reader: its message and the root cause
        assert f"Encountered error while reading file file://{bad}" in message
        assert "(don't know what type: 15)" in message
    assert not spec.output.path.exists() or visible(spec.output.path) == []
    assert not [p for p in spec.output.path.iterdir() if p.name.startswith(".dt=")]
