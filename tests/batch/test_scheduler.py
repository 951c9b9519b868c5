"""The real APScheduler process: cron fires, missed and killed runs produced once after a restart, retries,
SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from batch_jobs.datequeue import Pending
from batch_jobs.history import RunHistory
from batch_jobs.partition import read_run_record
from batch_jobs.scheduler import FIRE_INSTANCES, make_executor, make_jobstore, make_scheduler, run_date, sync_jobs
from batch_jobs.spec import load_job

from .conftest import ROOT, job_doc, run_cli


def start_scheduler(job: Path, store: Path, cwd: Path) -> subprocess.Popen:
    """``scorebridge batch schedule`` in a child process; its log goes to a file (read by :func:`stop`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(cwd / f"scheduler-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen([sys.executable, "-m", "scorebridge", "batch", "schedule", str(job), "--store", str(store)],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def log_text(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def wait_for_runs(history: RunHistory, job: str, count: int, timeout: float, proc: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in history.recent(job, 100)
                if r["trigger"] in ("schedule", "catchup") and r["status"] != "running"]
        if len(runs) >= count:
            return runs
        if proc.poll() is not None:
            pytest.fail(f"scheduler exited early ({proc.returncode}): {log_text(proc)}")
        time.sleep(0.2)
    pytest.fail(f"no scheduled run within {timeout}s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Signal the scheduler, wait for it; returns its exit code and log."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    finally:
        err = log_text(proc)
        proc.log.close()  # type: ignore[attr-defined]
    return proc.returncode, err


def utc_days(*offsets: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today + timedelta(days=o)).isoformat() for o in offsets]


def test_fires_on_its_cron_trigger_and_stops_cleanly_on_sigterm(tmp_path, partition, write_job, credit_bundle):
    for ds in utc_days(-2, -1, 0):  # the fire may straddle midnight
        partition(ds)
    job = write_job(job_doc(credit_bundle.path, schedule={"cron": "* * * * * *", "timezone": "UTC", "catchup_days": 0}))
    spec = load_job(job)
    proc = start_scheduler(job, tmp_path / "store.sqlite", tmp_path)
    try:
        runs = wait_for_runs(RunHistory(spec.state_dir), spec.name, 1, 90, proc)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "received SIGTERM: shutting down" in err and "scheduler stopped" in err
    first = runs[-1]
    assert first["status"] == "success", first["message"]
    record = json.loads((Path(first["output"]) / "_RUN.json").read_text())
    fire = datetime.fromisoformat(record["fire_time"])
    assert record["trigger"] == "schedule" and fire.microsecond == 0  # a cron fire time, not "now"
    assert record["ds"] == (fire.astimezone(UTC).date() - timedelta(days=1)).isoformat()


def last_fire_at_five(now: datetime) -> datetime:
    fire = now.replace(hour=5, minute=0, second=0, microsecond=0)
    return fire if fire <= now else fire - timedelta(days=1)


def test_restart_after_missed_fires_runs_each_missed_date_once(tmp_path, partition, write_job, credit_bundle):
    job = write_job(job_doc(credit_bundle.path, schedule={"cron": "0 5 * * *", "timezone": "UTC", "catchup_days": 3}))
    spec = load_job(job)
    store = tmp_path / "store.sqlite"
    # a scheduler that ran, then was down for three days of fires
    missed = last_fire_at_five(datetime.now(UTC))
    scheduler = make_scheduler(make_jobstore(store), make_executor())
    scheduler.start(paused=True)
    sync_jobs(scheduler, [spec])
    scheduler.modify_job(spec.name, next_run_time=missed - timedelta(days=2))
    scheduler.shutdown(wait=False)
    expected = [(missed.date() - timedelta(days=d)).isoformat() for d in (3, 2, 1)]
    for ds in expected:
        partition(ds)
    RunHistory(spec.state_dir).scheduled_since(spec.name, record=(missed - timedelta(days=30)).timestamp())

    proc = start_scheduler(job, store, tmp_path)
    try:
        wait_for_runs(RunHistory(spec.state_dir), spec.name, 3, 120, proc)
        time.sleep(2)  # room for a wrong extra run
    finally:
        code, err = stop(proc)
    assert code == 0, err
    runs = list(reversed(RunHistory(spec.state_dir).recent(spec.name, 100)))
    # oldest first, each once: the two older dates by the start-up catch-up, the last by the missed fire
    assert [(r["trigger"], r["ds"], r["status"]) for r in runs] == [
        ("catchup", expected[0], "success"), ("catchup", expected[1], "success"), ("schedule", expected[2], "success")]
    records = [json.loads((Path(r["output"]) / "_RUN.json").read_text()) for r in runs]
    assert [datetime.fromisoformat(r["fire_time"]) for r in records] == [missed - timedelta(days=2),
                                                                         missed - timedelta(days=1), missed]

    scheduler = make_scheduler(make_jobstore(store), make_executor())
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job(spec.name).next_run_time == missed + timedelta(days=1)
    finally:
        scheduler.shutdown(wait=False)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "cancelled"])
def test_a_killed_or_cancelled_run_is_produced_once_after_a_restart(tmp_path, partition, write_job, credit_bundle,
                                                                    sig):
    fire = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    cron = f"{fire.second} {fire.minute} {fire.hour} {fire.day} {fire.month} *"  # this one fire in the window
    ds = (fire.date() - timedelta(days=1)).isoformat()
    partition(ds, rows=300_000, seed=3)  # scored in batches of 1,000: the signal lands mid-write
    job = write_job(job_doc(credit_bundle.path, local={"batch_size": 1000},
                            schedule={"cron": cron, "timezone": "UTC", "catchup_days": 1, "retries": 0}))
    spec = load_job(job)
    history, table, store = RunHistory(spec.state_dir), spec.output.path, tmp_path / "store.sqlite"

    proc = start_scheduler(job, store, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not any(any(p.glob("part-*.parquet")) for p in table.glob(f".dt={ds}.tmp-*")):
            assert proc.poll() is None, log_text(proc)
            assert time.monotonic() < deadline, f"the run never started writing: {log_text(proc)}"
            time.sleep(0.01)
    finally:
        code, err = stop(proc, sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), err
    (first,) = history.recent(spec.name)
    assert first["status"] == ("cancelled" if sig == signal.SIGTERM else "killed")
    assert first["ds"] == ds and first["trigger"] in ("schedule", "catchup")  # catchup: the start was late
    assert not spec.output.partition(ds).exists()
    status = run_cli("batch", "status", str(job), cwd=tmp_path)
    assert f"  owed     1 date(s) in the last 1 day(s), run at the scheduler's next start or fire: {ds} " \
           f"({first['status']})" in status.stdout

    proc = start_scheduler(job, store, tmp_path)
    try:
        wait_for_runs(history, spec.name, 2, 120, proc)
        time.sleep(2)  # room for a wrong second run
    finally:
        code, err = stop(proc)
    assert code == 0, err
    runs = history.recent(spec.name)
    assert [(r["trigger"], r["status"]) for r in runs] == [("catchup", "success"), (first["trigger"], first["status"])]
    assert pq.read_table(spec.output.partition(ds)).num_rows == 300_000
    assert datetime.fromisoformat(read_run_record(spec.output.partition(ds))["fire_time"]) == fire
    assert not [p for p in table.iterdir() if p.name.startswith(".dt=")]  # the killed run's staging is gone
    status = run_cli("batch", "status", str(job), cwd=tmp_path)
    assert "  owed     none in the last 1 day(s)" in status.stdout


def test_sync_keeps_stored_fire_times_unless_the_trigger_changed(tmp_path, write_job, credit_bundle):
    store = tmp_path / "store.sqlite"
    past = datetime(2026, 1, 1, 5, tzinfo=UTC)

    def synced(cron: str) -> datetime:
        spec = load_job(write_job(job_doc(credit_bundle.path, schedule={"cron": cron, "timezone": "UTC"})))
        scheduler = make_scheduler(make_jobstore(store), make_executor())
        scheduler.start(paused=True)
        try:
            sync_jobs(scheduler, [spec])
            job = scheduler.get_job(spec.name)
            assert job.max_instances == FIRE_INSTANCES and job.coalesce is True and job.misfire_grace_time == 86400
            if job.next_run_time > past:
                scheduler.modify_job(spec.name, next_run_time=past)
            return job.next_run_time
        finally:
            scheduler.shutdown(wait=False)

    assert synced("0 5 * * *") > datetime.now(UTC)
    assert synced("0 5 * * *") == past  # restart with the same trigger: the missed fire is kept
    assert synced("30 6 * * *").time().isoformat() == "06:30:00"  # a new trigger reschedules


def test_retries_until_the_input_arrives(tmp_path, partition, write_job, credit_bundle):
    fire = datetime(2026, 11, 22, 5, tzinfo=UTC)
    job = write_job(job_doc(credit_bundle.path, schedule={"timezone": "UTC", "retries": 2, "retry_delay": "0.5s"}))
    history = RunHistory(load_job(job).state_dir)

    def upstream() -> None:  # lands after the first attempt failed
        deadline = time.monotonic() + 60
        while not any(r["status"] == "failed" for r in history.recent("credit_nightly")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        partition("2026-11-21")

    lands = threading.Thread(target=upstream)
    lands.start()
    assert run_date(str(job), Pending("2026-11-21", fire, "schedule")) is True
    lands.join()
    runs = RunHistory(load_job(job).state_dir).recent("credit_nightly")
    assert [(r["attempt"], r["status"]) for r in reversed(runs)] == [(1, "failed"), (2, "success")]
    assert read_run_record(Path(runs[0]["output"]))["fire_time"] == fire.isoformat()


def test_gives_up_after_the_last_retry_and_the_date_stays_owed(tmp_path, write_job, credit_bundle):
    job = write_job(job_doc(credit_bundle.path, schedule={"timezone": "UTC", "retries": 1, "retry_delay": "0.1s"}))
    assert run_date(str(job), Pending("2026-11-21", datetime(2026, 11, 22, 5, tzinfo=UTC), "schedule")) is True
    runs = RunHistory(load_job(job).state_dir).recent("credit_nightly")
    assert [(r["attempt"], r["status"]) for r in reversed(runs)] == [(1, "failed"), (2, "failed")]
    assert runs[0]["message"].startswith("UpstreamNotReadyError: input partition ")
