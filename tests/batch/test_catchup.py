"""Every date exactly once: the look-back window against the run history, the per-job date queue, and
the real scheduler in this process (real cron triggers, a real SQLite job store, real runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batch_jobs import scheduler
from batch_jobs.catchup import owed_dates, window_fires
from batch_jobs.datequeue import DateQueue, Pending
from batch_jobs.history import RunHistory
from batch_jobs.partition import SUCCESS, read_run_record
from batch_jobs.spec import load_job

from .conftest import ROOT, job_doc

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def spec_with(write_job, credit_bundle, **schedule):
    return load_job(write_job(job_doc(credit_bundle.path, schedule={"timezone": "UTC", **schedule})), check_model=False)


def record_killed_run(history: RunHistory, job: str, ds: str) -> None:
    """A run recorded as started by a process that then ended without recording an outcome."""
    code = (f"from batch_jobs.history import RunHistory; "
            f"RunHistory({str(history.path.parent)!r}).start({job!r}, {ds!r}, 'schedule', 'local')")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_owed_dates_reconcile_the_window_with_the_history(write_job, credit_bundle):
    spec = spec_with(write_job, credit_bundle, cron="0 5 * * *", catchup_days=6)
    history = RunHistory(spec.state_dir)
    job = spec.name
    assert owed_dates(spec, history, NOW) == []  # no scheduler has taken the job on: nothing is owed
    history.scheduled_since(job, record=(NOW - timedelta(days=30)).timestamp())
    history.finish(history.start(job, "2026-11-16", "schedule", "local"), "success")
    record_killed_run(history, job, "2026-11-17")
    history.finish(history.start(job, "2026-11-18", "schedule", "local"), "cancelled", message="shutdown")
    history.finish(history.start(job, "2026-11-19", "schedule", "local"), "failed", message="OutputError: disk full")
    history.start(job, "2026-11-20", "manual", "local")  # running right now, in this live process
    history.finish(history.start(job, "2026-11-15", "manual", "local"), "success")  # outside the window

    owed = owed_dates(spec, history, NOW)
    assert [(o.ds, o.last) for o in owed] == [("2026-11-17", "killed"), ("2026-11-18", "cancelled"),
                                              ("2026-11-19", "failed: OutputError: disk full"),
                                              ("2026-11-21", "not run")]
    assert [o.fire_time for o in owed] == [datetime(2026, 11, d, 5, tzinfo=UTC) for d in (18, 19, 20, 22)]
    # a successful rerun pays the debt, whatever ran it
    history.finish(history.start(job, "2026-11-17", "manual", "local"), "success")
    assert [o.ds for o in owed_dates(spec, history, NOW)] == ["2026-11-18", "2026-11-19", "2026-11-21"]
    assert history.reap(job) == 1
    assert [r["status"] for r in history.by_date(job, ["2026-11-17"])["2026-11-17"]] == ["success", "killed"]
    # fires before the job was first scheduled are not owed (the first start's time is kept)
    doc = job_doc(credit_bundle.path, name="later", schedule={"timezone": "UTC", "cron": "0 5 * * *",
                                                              "catchup_days": 6})
    later = load_job(write_job(doc, "later.toml"), check_model=False)
    history.scheduled_since("later", record=datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp())
    history.scheduled_since("later", record=NOW.timestamp())
    assert [o.ds for o in owed_dates(later, history, NOW)] == ["2026-11-20", "2026-11-21"]


def test_the_window_is_the_last_n_times_24_hours_of_fires(write_job, credit_bundle):
    daily = spec_with(write_job, credit_bundle, cron="0 5 * * *", catchup_days=3).schedule
    assert window_fires(daily, NOW) == [datetime(2026, 11, d, 5, tzinfo=UTC) for d in (20, 21, 22)]
    before_fire = NOW.replace(hour=4, minute=59)
    assert window_fires(daily, before_fire) == [datetime(2026, 11, d, 5, tzinfo=UTC) for d in (19, 20, 21)]
    assert window_fires(daily, NOW, days=0) == []
    # a sub-daily cron owes one date per local day: the first fire of each day in the window
    half_hourly = spec_with(write_job, credit_bundle, cron="*/30 * * * *", timezone="Asia/Shanghai",
                            catchup_days=2).schedule
    fires = window_fires(half_hourly, NOW)
    local = [f.astimezone(half_hourly.tz) for f in fires]
    assert [f.strftime("%m-%d %H:%M") for f in local] == ["11-20 18:30", "11-21 00:00", "11-22 00:00"]
    assert [half_hourly.ds_for(f) for f in fires] == ["2026-11-19", "2026-11-20", "2026-11-21"]


def test_the_date_queue_runs_each_date_once_oldest_first_and_never_drops_one():
    queue, stop = DateQueue(), threading.Event()
    fire = datetime(2026, 11, 22, 5, tzinfo=UTC)
    ran: list[Pending] = []
    gate = threading.Event()

    def run(item: Pending) -> bool:
        ran.append(item)
        if item.ds == "2026-11-19":
            gate.wait(10)  # a long run: offers arrive meanwhile
        return True

    added, drain = queue.offer([Pending("2026-11-20", fire, "catchup"), Pending("2026-11-19", fire, "catchup")])
    assert len(added) == 2 and drain
    drainer = threading.Thread(target=queue.drain, args=(run, stop))
    drainer.start()
    while queue.snapshot()[0] != "2026-11-19":
        time.sleep(0.01)
    # while 19 runs: a fire for 21, an owed 20 again (already waiting), 19 again (running), 20 as a fire
    added, drain = queue.offer([Pending("2026-11-21", fire, "schedule"), Pending("2026-11-20", fire, "catchup"),
                                Pending("2026-11-19", fire, "catchup")])
    assert [a.ds for a in added] == ["2026-11-21"] and not drain
    assert queue.offer([Pending("2026-11-20", fire + timedelta(hours=1), "schedule")]) == ([], False)
    assert queue.snapshot() == ("2026-11-19", ["2026-11-20", "2026-11-21"])
    gate.set()
    drainer.join(10)
    assert [(r.ds, r.trigger) for r in ran] == [("2026-11-19", "catchup"), ("2026-11-20", "schedule"),
                                                ("2026-11-21", "schedule")]
    assert ran[1].fire_time == fire + timedelta(hours=1)  # recorded as the fire's run
    assert queue.snapshot() == (None, []) and queue.offer([Pending("2026-11-22", fire, "schedule")])[1]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def scheduled(history: RunHistory, job: str) -> list[dict]:
    """The finished scheduler runs of ``job``, oldest first."""
    return [r for r in reversed(history.recent(job, 1000)) if r["status"] not in ("running",)]


def test_fires_every_second_produce_each_date_once(tmp_path, partition, write_job, credit_bundle):
    today = datetime.now(UTC).date()
    for back in range(5):
        partition((today - timedelta(days=back)).isoformat())
    job = write_job(job_doc(credit_bundle.path, schedule={"cron": "* * * * * *", "timezone": "UTC",
                                                          "catchup_days": 2}))
    spec = load_job(job)
    history = RunHistory(spec.state_dir)
    owed = [(today - timedelta(days=d)).isoformat() for d in (3, 2, 1)]  # fires on 3 days in the last 48h
    history.scheduled_since(spec.name, record=time.time() - 7 * 86400)  # scheduled for a week, then down
    sched = scheduler.start([spec], tmp_path / "store.sqlite")
    try:
        wait_until(lambda: len(scheduled(history, spec.name)) >= 3, 120, "the owed dates")
        time.sleep(3)  # three more fires, for a date already produced
    finally:
        scheduler.stop(sched)
    runs = scheduled(history, spec.name)
    assert all(r["status"] == "success" for r in runs), runs
    dates = [r["ds"] for r in runs]
    assert dates[:3] == owed and len(set(dates)) == len(dates)  # oldest first, each once (a 4th: midnight)


@pytest.mark.parametrize("first", ["missed fire", "catch-up"])
def test_a_fire_during_a_long_run_is_queued_behind_it(tmp_path, partition, write_job, credit_bundle, first):
    """The run of an older date is still waiting for its input when the next fire comes: the fire's
    date runs right after it (APScheduler's max_instances = 1 dropped that fire)."""
    fire = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    older, newer = ((fire - timedelta(days=d)).date().isoformat() for d in (2, 1))
    partition(older, success=False)  # its upstream finishes late
    partition(newer)
    catchup = 1 if first == "catch-up" else 0
    job = write_job(job_doc(credit_bundle.path, input={"wait_timeout": "60s"},
                            schedule={"cron": f"{fire.second} {fire.minute} {fire.hour} * * *", "timezone": "UTC",
                                      "catchup_days": catchup}))
    spec = load_job(job)
    store = tmp_path / "store.sqlite"
    if first == "missed fire":  # catch-up off: only APScheduler's own misfire handling brings yesterday's fire
        sched = scheduler.make_scheduler(scheduler.make_jobstore(store), scheduler.make_executor())
        sched.start(paused=True)
        scheduler.sync_jobs(sched, [spec])
        sched.modify_job(spec.name, next_run_time=fire - timedelta(days=1))
        sched.shutdown(wait=False)
    history = RunHistory(spec.state_dir)
    history.scheduled_since(spec.name, record=time.time() - 7 * 86400)
    sched = scheduler.start([spec], store)
    try:
        assert datetime.now(UTC) < fire - timedelta(seconds=0.5), "started too late to test a fire during a run"
        wait_until(lambda: datetime.now(UTC) > fire + timedelta(seconds=1.5), 10, "the fire")
        assert scheduler.queue_for(spec.name).snapshot() == (older, [newer])
        assert [(r["ds"], r["status"]) for r in history.recent(spec.name)] == [(older, "running")]
        (spec.input.partition(older) / SUCCESS).touch()
        wait_until(lambda: len(scheduled(history, spec.name)) >= 2, 60, "both dates")
    finally:
        scheduler.stop(sched)
    runs = scheduled(history, spec.name)
    assert [(r["ds"], r["status"]) for r in runs] == [(older, "success"), (newer, "success")]
    assert runs[1]["started_at"] >= runs[0]["finished_at"]  # behind it, not beside it
    assert runs[1]["trigger"] == "schedule"
    assert read_run_record(Path(runs[1]["output"]))["fire_time"] == fire.isoformat()
    assert runs[0]["trigger"] == ("catchup" if catchup else "schedule")
