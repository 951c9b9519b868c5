"""The real APScheduler process: cron fires, a missed fire runs once after a restart, retries, SIGTERM."""

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

import pytest

from batch_jobs.errors import UpstreamNotReadyError
from batch_jobs.history import RunHistory
from batch_jobs.scheduler import make_executor, make_jobstore, make_scheduler, scheduled_run, sync_jobs
from batch_jobs.spec import load_job

from .conftest import ROOT, job_doc

UTC = UTC


def start_scheduler(job: Path, store: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "scorebridge", "batch", "schedule", str(job), "--store", str(store)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_runs(history: RunHistory, job: str, count: int, timeout: float, proc: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in history.recent(job, 100) if r["trigger"] == "schedule" and r["status"] != "running"]
        if len(runs) >= count:
            return runs
        if proc.poll() is not None:
            pytest.fail(f"scheduler exited early ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.2)
    pytest.fail(f"no scheduled run within {timeout}s")


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def utc_days(*offsets: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today + timedelta(days=o)).isoformat() for o in offsets]


def test_fires_on_its_cron_trigger_and_stops_cleanly_on_sigterm(tmp_path, partition, write_job, credit_bundle):
    for ds in utc_days(-2, -1, 0):  # the fire may straddle midnight
        partition(ds)
    job = write_job(job_doc(credit_bundle.path, schedule={"cron": "* * * * * *", "timezone": "UTC"}))
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


def test_restart_after_missed_fires_runs_the_job_once(tmp_path, partition, write_job, credit_bundle):
    job = write_job(job_doc(credit_bundle.path, schedule={"cron": "0 5 * * *", "timezone": "UTC"}))
    spec = load_job(job)
    store = tmp_path / "store.sqlite"
    # a scheduler that ran, then was down for three days of fires
    missed = last_fire_at_five(datetime.now(UTC))
    scheduler = make_scheduler(make_jobstore(store), make_executor())
    scheduler.start(paused=True)
    sync_jobs(scheduler, [spec])
    scheduler.modify_job(spec.name, next_run_time=missed - timedelta(days=2))
    scheduler.shutdown(wait=False)
    expected_ds = (missed.date() - timedelta(days=1)).isoformat()
    partition(expected_ds)

    proc = start_scheduler(job, store, tmp_path)
    try:
        wait_for_runs(RunHistory(spec.state_dir), spec.name, 1, 90, proc)
        time.sleep(2)  # room for a wrong second run
    finally:
        code, err = stop(proc)
    assert code == 0, err
    runs = RunHistory(spec.state_dir).recent(spec.name, 100)
    assert [(r["trigger"], r["ds"], r["status"]) for r in runs] == [("schedule", expected_ds, "success")]
    record = json.loads((Path(runs[0]["output"]) / "_RUN.json").read_text())
    assert datetime.fromisoformat(record["fire_time"]) == missed  # coalesced onto the latest missed fire

    scheduler = make_scheduler(make_jobstore(store), make_executor())
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job(spec.name).next_run_time == missed + timedelta(days=1)
    finally:
        scheduler.shutdown(wait=False)


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
            assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 86400
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
    threading.Timer(0.1, partition, args=("2026-11-21",)).start()  # upstream lands after the first attempt
    assert scheduled_run(str(job), fire_time=fire).endswith("dt=2026-11-21")
    runs = RunHistory(load_job(job).state_dir).recent("credit_nightly")
    assert [(r["attempt"], r["status"]) for r in reversed(runs)] == [(1, "failed"), (2, "success")]


def test_gives_up_after_the_last_retry(tmp_path, write_job, credit_bundle):
    job = write_job(job_doc(credit_bundle.path, schedule={"timezone": "UTC", "retries": 1, "retry_delay": "0.1s"}))
    with pytest.raises(UpstreamNotReadyError):
        scheduled_run(str(job), fire_time=datetime(2026, 11, 22, 5, tzinfo=UTC))
    runs = RunHistory(load_job(job).state_dir).recent("credit_nightly")
    assert [(r["attempt"], r["status"]) for r in reversed(runs)] == [(1, "failed"), (2, "failed")]
