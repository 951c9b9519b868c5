"""``batch schedule``: an APScheduler 3 process running each job on its cron trigger.

The parts are separate and swappable: the trigger comes from :mod:`batch_jobs.triggers`, the job
store from :func:`make_jobstore` (SQLite through SQLAlchemy, so fire times survive a restart), the
executor from :func:`make_executor`. Every job runs with ``coalesce=True`` (many missed fires run
once), ``max_instances=1`` (a slow run is never overlapped by the next fire) and
``misfire_grace_time`` from ``schedule.misfire_grace``: restarted after a missed fire time, the
scheduler runs the missed job once, for the partition of the fire time it missed. Retries with
``schedule.retry_delay`` happen inside the job, so the one-instance rule covers them too. SIGTERM or
SIGINT stops new fires, asks a running job to stop before it commits, and exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from batch_jobs.errors import JobCancelledError
from batch_jobs.spec import JobSpec, load_job
from batch_jobs.triggers import cron_trigger
from scorebridge.errors import ScorebridgeError

log = logging.getLogger("batch_jobs.scheduler")

JOB_FUNC = "batch_jobs.scheduler:scheduled_run"  # a textual reference, so the store can persist jobs
SHUTDOWN = threading.Event()  # set on SIGTERM/SIGINT: running jobs stop before they commit


def scheduled_run(job_file: str, fire_time: datetime | None = None) -> str:
    """The scheduled callable: run the job for the partition of ``fire_time``, retrying on failure.

    The job file is re-read at every fire, so edits (other than the trigger) apply to the next run.
    """
    from batch_jobs.runner import run_job

    spec = load_job(job_file)
    ds = spec.schedule.ds_for(fire_time)
    attempts = spec.schedule.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            result = run_job(spec, ds, trigger="schedule", attempt=attempt, cancel=SHUTDOWN,
                             fire_time=fire_time, tty=False)
            return str(result.partition)
        except JobCancelledError:
            raise
        except Exception as exc:  # any failure may be transient (upstream late, disk, cluster)
            if attempt == attempts:
                log.error("%s dt=%s: attempt %d/%d failed, giving up: %s", spec.name, ds, attempt, attempts, exc)
                raise
            log.warning("%s dt=%s: attempt %d/%d failed (%s); retrying in %.0fs", spec.name, ds, attempt,
                        attempts, exc, spec.schedule.retry_delay)
            if SHUTDOWN.wait(spec.schedule.retry_delay):
                raise JobCancelledError(f"{spec.name} dt={ds}: shutdown during the retry delay") from exc
    raise AssertionError("unreachable")


class _FireTimeJob:
    """A view of an APScheduler job whose call also receives the fire time being run."""

    def __init__(self, job: Any, fire_time: datetime) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "fire_time": fire_time}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class FireTimeExecutor(ThreadPoolExecutor):
    """A thread-pool executor passing ``fire_time`` (the latest due fire time) to the job.

    APScheduler 3 does not tell a job which fire time it is running for; a T+1 job needs it to score
    the right partition when it runs late (after a restart, or queued behind a long run).
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_FireTimeJob(job, run_times[-1]), run_times[-1:])


class BatchScheduler(BackgroundScheduler):
    """A background scheduler that does not process jobs once shut down.

    APScheduler 3's loop runs ``_process_jobs`` once more after ``shutdown()`` has stopped the
    executors: a job due at that instant fails to submit and its fire time is advanced, i.e. lost.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def make_jobstore(path: Path) -> BaseJobStore:
    """The persistent job store: SQLite through SQLAlchemy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLAlchemyJobStore(url=f"sqlite:///{path.absolute()}")


def make_executor(max_workers: int = 4) -> FireTimeExecutor:
    return FireTimeExecutor(max_workers=max_workers)


def make_scheduler(jobstore: BaseJobStore, executor: Any) -> BatchScheduler:
    """A scheduler with the job defaults every batch job needs."""
    return BatchScheduler(jobstores={"default": jobstore}, executors={"default": executor},
                               job_defaults={"coalesce": True, "max_instances": 1}, timezone="UTC")


def sync_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Make the store hold exactly ``specs``, keeping stored fire times whose trigger is unchanged.

    Re-adding a job with ``replace_existing`` would recompute its next fire time from now and so drop
    a fire missed while the scheduler was down; an unchanged job is therefore only updated in place.
    """
    wanted = {spec.name: spec for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            log.info("removing job %s from the store: no job file names it any more", job.id)
            scheduler.remove_job(job.id)
    for spec in specs:
        trigger = cron_trigger(spec.schedule.cron, spec.schedule.tz)
        options = {"args": [str(spec.source)], "name": spec.name,
                   "misfire_grace_time": int(spec.schedule.misfire_grace) or None,
                   "coalesce": True, "max_instances": 1}
        existing = scheduler.get_job(spec.name)
        if existing is None:
            scheduler.add_job(JOB_FUNC, trigger=trigger, id=spec.name, **options)
        else:
            scheduler.modify_job(spec.name, **options)
            if repr(existing.trigger) != repr(trigger):
                scheduler.reschedule_job(spec.name, trigger=trigger)
        job = scheduler.get_job(spec.name)
        late = " (missed while down: runs now)" if job.next_run_time and \
            job.next_run_time <= datetime.now(job.next_run_time.tzinfo) else ""
        log.info("job %s: cron %r in %s, next fire %s%s", spec.name, spec.schedule.cron,
                 spec.schedule.timezone, job.next_run_time, late)


def serve(specs: list[JobSpec], store: Path, *, max_workers: int = 4,
          stop: threading.Event | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop`` is set); returns the exit code."""
    stop = stop or threading.Event()
    SHUTDOWN.clear()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = make_scheduler(make_jobstore(store), make_executor(max_workers))
    try:
        scheduler.start(paused=True)  # sync the store before anything can fire
        try:
            sync_jobs(scheduler, specs)
        except ScorebridgeError:
            scheduler.shutdown(wait=False)
            raise
        scheduler.resume()
        log.info("scheduler running %d job(s), store %s; SIGTERM or Ctrl-C stops it", len(specs), store)
        while not stop.wait(0.5):
            pass
        SHUTDOWN.set()  # a running job aborts before commit: nothing half-written, rerun next fire
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
