"""The ``[online]`` table of a job: publish after the commit, ``batch publish``, failures; real redis,
real Parquet partitions, the sample credit_risk bundle."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid

import orjson
import pytest

from batch_jobs.errors import JobSpecError
from batch_jobs.online import PUBLISHED
from batch_jobs.partition import SUCCESS
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job
from online_features import layout
from online_features.store import client, read_meta

from .conftest import DS, ROOT, job_doc, run_cli

INPUTS = ["income", "debt_ratio", "age", "credit_lines", "late_payments", "region", "employment"]


@pytest.fixture
def set_name() -> str:
    return f"credit-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def r(redis_url):
    with client(redis_url) as conn:
        yield conn


def online_doc(credit_bundle, redis_url, set_name, **online):
    return job_doc(credit_bundle.path, online={"url": redis_url, "entity": "user_id", "name": set_name, **online})


def values_of(r, name: str, entity: int | str, token: str | None = None) -> dict | None:
    meta = read_meta(r, name)
    batch = next(b for b in meta.batches if b.token == token) if token else meta.current
    raw = r.hget(layout.bucket_key(name, layout.bucket_of(str(entity), batch.buckets), batch.token), str(entity))
    return None if raw is None else dict(zip(batch.features, orjson.loads(raw)))


def expected(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items() if k in INPUTS}


def test_a_run_publishes_the_input_rows_and_writes_published_json(tmp_path, partition, write_job, credit_bundle,
                                                                 redis_url, r, set_name):
    table = partition(rows=500)
    spec = load_job(write_job(online_doc(credit_bundle, redis_url, set_name, additive=["late_payments"])))
    result = run_job(spec, DS, tty=False)
    part = tmp_path / "warehouse/scores" / f"dt={DS}"
    assert (part / SUCCESS).exists()
    published = json.loads((part / PUBLISHED).read_text())
    assert published == result.published
    assert {k: published[k] for k in ("feature_set", "dt", "token", "entities", "features", "url", "additive")} == {
        "feature_set": set_name, "dt": DS, "token": f"{DS}.1", "entities": 500, "features": INPUTS,
        "url": redis_url, "additive": ["late_payments"]}
    assert published["duration_s"] >= 0 and published["batches"] == [DS]
    assert not any(p.name.endswith(".tmp") for p in part.iterdir())
    meta = read_meta(r, set_name)
    assert meta.current.token == f"{DS}.1" and meta.current.additive == ("late_payments",)
    assert meta.current.timezone == "Asia/Shanghai" and meta.current.entity == "user_id"
    rows = table.to_pylist()
    for row in (rows[0], rows[123], rows[-1]):
        assert values_of(r, set_name, row["user_id"]) == expected(row)
    assert values_of(r, set_name, 501) is None


def test_the_stdout_line_and_the_history_say_what_was_published(tmp_path, partition, write_job, credit_bundle,
                                                                redis_url, r, set_name):
    partition(rows=50)
    job = write_job(online_doc(credit_bundle, redis_url, set_name, features=["income", "region"]))
    run = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"published 50 entities x 2 features to feature set '{set_name}' (batch {DS}.1" in run.stdout
    status = run_cli("batch", "status", str(job), cwd=tmp_path)
    assert status.returncode == 0 and "success" in status.stdout
    assert f"published 50 entities to feature set {set_name} (batch {DS}.1)" in status.stdout
    assert values_of(r, set_name, 1).keys() == {"income", "region"}


def test_batch_publish_republishes_a_committed_date(tmp_path, partition, write_job, credit_bundle, redis_url, r,
                                                    set_name):
    table = partition(rows=200)
    job = write_job(online_doc(credit_bundle, redis_url, set_name))
    run_job(load_job(job), DS, tty=False)
    first = json.loads((tmp_path / "warehouse/scores" / f"dt={DS}" / PUBLISHED).read_text())
    again = run_cli("batch", "publish", str(job), "--date", DS, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"published 200 entities x 7 features to feature set '{set_name}' (batch {DS}.2" in again.stdout
    second = json.loads((tmp_path / "warehouse/scores" / f"dt={DS}" / PUBLISHED).read_text())
    assert (first["token"], second["token"]) == (f"{DS}.1", f"{DS}.2")
    meta = read_meta(r, set_name)
    assert [b.token for b in meta.batches] == [f"{DS}.2"]  # the same date replaced, not kept twice
    assert not list(r.scan_iter(match=f"sb:{{{set_name}|*}}:{DS}.1"))
    row = table.to_pylist()[7]
    assert values_of(r, set_name, row["user_id"]) == expected(row)


def test_batch_publish_needs_a_committed_partition(tmp_path, partition, write_job, credit_bundle, redis_url, r,
                                                   set_name):
    partition(rows=20)
    job = write_job(online_doc(credit_bundle, redis_url, set_name))
    out = run_cli("batch", "publish", str(job), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "is not committed (no _SUCCESS)" in out.stderr and "batch run" in out.stderr
    assert read_meta(r, set_name) is None
    plain = write_job(job_doc(credit_bundle.path), name="plain.toml")
    out = run_cli("batch", "publish", str(plain), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2 and "no [online] table" in out.stderr


@pytest.mark.parametrize("online, needle", [
    ({"entity": "customer"}, "online.entity: column 'customer' is not in the input partition"),
    ({"features": ["income", "nope"]}, "online.features: column 'nope' is not in the input partition"),
    ({"url": "http://127.0.0.1:6379/0"}, "online.url: invalid Redis URL"),
    ({"url": "redis://:s3cret@127.0.0.1:notaport/0"}, "online.url: invalid Redis URL redis://:***@"),
])
def test_bad_columns_and_urls_fail_before_scoring(tmp_path, partition, write_job, credit_bundle, redis_url, r,
                                                  set_name, online, needle):
    partition(rows=20)
    job = write_job(online_doc(credit_bundle, redis_url, set_name, **online))
    out = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("scorebridge: error: ") and out.stderr.count("\n") == 1, out.stderr
    assert needle in out.stderr and "s3cret" not in out.stderr
    assert not (tmp_path / "warehouse/scores" / f"dt={DS}").exists()
    assert read_meta(r, set_name) is None


def test_the_url_defaults_to_the_environment(tmp_path, partition, write_job, credit_bundle, redis_url, r, set_name,
                                             monkeypatch):
    partition(rows=10)
    doc = online_doc(credit_bundle, redis_url, set_name)
    del doc["online"]["url"]
    job = write_job(doc)
    monkeypatch.delenv("SCOREBRIDGE_FEATURE_STORE", raising=False)
    with pytest.raises(JobSpecError, match=r"online\.url: required key is missing .*SCOREBRIDGE_FEATURE_STORE"):
        load_job(job)
    monkeypatch.setenv("SCOREBRIDGE_FEATURE_STORE", "redis://:pw@127.0.0.1:0/0")
    with pytest.raises(JobSpecError, match=r"online\.url \(from SCOREBRIDGE_FEATURE_STORE\): .*:\*\*\*@"):
        load_job(job)
    monkeypatch.setenv("SCOREBRIDGE_FEATURE_STORE", redis_url)
    assert run_job(load_job(job), DS, tty=False).published["entities"] == 10


@pytest.mark.parametrize("online, needle", [
    ({"entity": "user_id", "keep_batches": 0}, "online.keep_batches: must be at least 1"),
    ({"entity": "user_id", "ttl_hours": 0}, "online.ttl_hours: must be a finite number of hours above 0"),
    ({"entity": "user_id", "ttl_hours": "1d"}, "online.ttl_hours: expected a number of hours"),
    ({"entity": "user_id", "features": ["a"], "additive": ["b"]}, "online.additive: 'b' is not one of"),
    ({"entity": "user_id", "features": ["a", "a"]}, "online.features: expected distinct column name strings"),
    ({"entity": "user_id", "features": ["user_id"]}, "online.features: 'user_id' is the entity key"),
    ({"entity": "user_id", "name": "a b"}, "online.name: invalid feature set name"),
    ({"entity": "user_id", "colour": "red"}, "online.colour: unknown key in [online]"),
    ({}, "online.entity: required key is missing"),
])
def test_online_table_is_strictly_validated(write_job, credit_bundle, redis_url, online, needle):
    doc = job_doc(credit_bundle.path, online={"url": redis_url, **online})
    with pytest.raises(JobSpecError) as err:
        load_job(write_job(doc))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_publish_failing_after_the_commit_says_so_and_batch_publish_retries(tmp_path, partition, write_job,
                                                                             credit_bundle, set_name):
    from online_features.server import running_redis

    partition(rows=30)
    with running_redis() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
    dead = f"redis://:hunter2@127.0.0.1:{port}/0"  # the server is gone: nothing listens there
    job = write_job(online_doc(credit_bundle, dead, set_name))
    out = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"the partition {tmp_path / 'warehouse/scores' / f'dt={DS}'} is committed" in out.stderr
    assert "ConnectionError" in out.stderr and "hunter2" not in out.stderr and "***" in out.stderr
    assert f"`scorebridge batch publish {job} --date {DS}` retries" in out.stderr
    part = tmp_path / "warehouse/scores" / f"dt={DS}"
    assert (part / SUCCESS).exists() and not (part / PUBLISHED).exists()
    with running_redis() as url, client(url) as r:
        job.write_text(job.read_text().replace(dead, url))
        again = run_cli("batch", "publish", str(job), "--date", DS, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert read_meta(r, set_name).current.entities == 30 and (part / PUBLISHED).exists()


def test_kill_9_midway_leaves_the_previous_batch_serving_and_a_rerun_flips(tmp_path, partition, write_job,
                                                                          credit_bundle, redis_url, r, set_name):
    """A ``batch publish`` killed while it writes: the pointer never moved, readers get the values they
    got before; the next ``batch publish`` completes and flips."""
    table = partition(rows=400_000)
    job = write_job(online_doc(credit_bundle, redis_url, set_name))
    run_job(load_job(job), DS, tty=False)
    rows = table.to_pylist()
    probes = [rows[0], rows[99_999], rows[-1]]
    before = [values_of(r, set_name, p["user_id"]) for p in probes]
    assert before == [expected(p) for p in probes]
    meta = read_meta(r, set_name)
    size = r.dbsize()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "scorebridge", "batch", "publish", str(job), "--date", DS],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while r.dbsize() <= size + 10 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the publish finished before it could be killed"
    grown = r.dbsize() - size
    assert 0 < grown < meta.current.buckets  # killed midway: some buckets of the new batch, not all
    after = read_meta(r, set_name)
    assert [b.token for b in after.batches] == [b.token for b in meta.batches] == [f"{DS}.1"]
    assert [values_of(r, set_name, p["user_id"]) for p in probes] == before
    assert all(r.ttl(k) > 0 for k in r.scan_iter(match=f"sb:{{{set_name}|*}}:{DS}.2", count=1000))
    again = run_cli("batch", "publish", str(job), "--date", DS, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    flipped = read_meta(r, set_name)
    assert flipped.current.token == f"{DS}.3" and len(flipped.batches) == 1  # .2 stays reserved by the killed one
    assert [values_of(r, set_name, p["user_id"]) for p in probes] == before
    assert json.loads((tmp_path / "warehouse/scores" / f"dt={DS}" / PUBLISHED).read_text())["token"] == f"{DS}.3"


def test_a_csv_input_publishes_its_entity_text_as_is(tmp_path, write_job, credit_bundle, redis_url, r, set_name):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = credit_bundle.read_verification()[credit_bundle.schema.names].head(5)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.add_column(0, "user_id", pa.array(["007", "008", "009", "010", "011"]))
    part = tmp_path / "warehouse/features" / f"dt={DS}"
    part.mkdir(parents=True)
    pacsv.write_csv(table, part / "part-00000.csv")
    (part / SUCCESS).touch()
    doc = online_doc(credit_bundle, redis_url, set_name, features=["income", "region"])
    doc["input"]["format"] = "csv"
    run_job(load_job(write_job(doc)), DS, tty=False)
    first = table.to_pylist()[0]
    assert values_of(r, set_name, "007") == {"income": float(first["income"]), "region": first["region"]}
    assert values_of(r, set_name, "7") is None


def test_a_scheduled_run_publishes_too(tmp_path, partition, write_job, credit_bundle, redis_url, r, set_name):
    from datetime import UTC, datetime

    from batch_jobs.datequeue import Pending
    from batch_jobs.scheduler import run_date

    partition(rows=40)
    job = write_job(online_doc(credit_bundle, redis_url, set_name))
    assert run_date(str(job), Pending(DS, datetime(2026, 11, 22, 5, tzinfo=UTC), "schedule")) is True
    published = json.loads((tmp_path / "warehouse/scores" / f"dt={DS}" / PUBLISHED).read_text())
    assert published["entities"] == 40 and read_meta(r, set_name).current.token == published["token"]


@pytest.mark.parametrize("column, online, needle", [
    ("signup", {"features": ["income", "signup"]}, "online: feature column 'signup' has type date32[day]"),
    ("signup", {"entity": "signup"}, "online: entity column 'signup' has type date32[day]"),
])
def test_a_column_of_a_type_that_cannot_be_published_fails_before_scoring(tmp_path, write_job, credit_bundle,
                                                                          redis_url, r, set_name, column, online,
                                                                          needle):
    from datetime import date

    import pyarrow as pa
    import pyarrow.parquet as pq

    from batch_jobs.demo import write_sample_partition

    part = tmp_path / "warehouse/features" / f"dt={DS}"
    table = write_sample_partition(credit_bundle, part, 10)
    pq.write_table(table.append_column(column, pa.array([date(2026, 1, 1)] * 10)), part / "part-00000.parquet")
    job = write_job(online_doc(credit_bundle, redis_url, set_name, **online))
    out = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert needle in out.stderr and "nothing was written" in out.stderr
    assert not (tmp_path / "warehouse/scores" / f"dt={DS}").exists() and read_meta(r, set_name) is None


@pytest.mark.parametrize("keys, needle", [
    ([1, 2, 2, 4], "online.entity: entity column 'user_id' repeats key '2'"),
    ([1, None, 3, 4], "online.entity: entity column 'user_id' has 1 null key(s)"),
    ([1.0, 2.5, 3.0, 4.0], "online.entity: entity column 'user_id' holds fractional numbers"),
])
def test_bad_keys_fail_before_scoring(tmp_path, write_job, credit_bundle, redis_url, r, set_name, keys, needle):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from batch_jobs.demo import write_sample_partition

    part = tmp_path / "warehouse/features" / f"dt={DS}"
    table = write_sample_partition(credit_bundle, part, 4)
    pq.write_table(table.set_column(0, "user_id", pa.array(keys)), part / "part-00000.parquet")
    job = write_job(online_doc(credit_bundle, redis_url, set_name))
    out = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert needle in out.stderr and "nothing was published" in out.stderr
    assert not (tmp_path / "warehouse/scores" / f"dt={DS}").exists() and read_meta(r, set_name) is None
