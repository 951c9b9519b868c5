"""The Spark engine in ``local[2]`` mode, both I/O modes: same layout, same scores, Hive INSERT OVERWRITE.

One SparkSession (with Hive support, metastore in a temporary directory) serves the module; the
tests are few and small because Spark starts slowly on two cores.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from batch_jobs.errors import BatchError
from batch_jobs.partition import SUCCESS
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job

from .conftest import DS, job_doc
from .test_local import assert_matches_native, visible

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
