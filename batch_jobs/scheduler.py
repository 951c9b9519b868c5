"""``batch schedule``: an APScheduler 3 process that produces every scheduled date exactly once.

APScheduler's parts stay separate and swappable: the trigger comes from :mod:`batch_jobs.triggers`,
the job store from :func:`make_jobstore` (SQLite through SQLAlchemy, so fire times survive a
restart), the executor from :func:`make_executor`. On top of them:

- **A fire queues, it does not run.** The fire callable (:func:`scheduled_run`) adds the fire's own
  date and, with ``[schedule] catchup_days``, every date the look-back window still owes
  (:mod:`batch_jobs.catchup`) to the job's :class:`~batch_jobs.datequeue.DateQueue`, then runs the
  queue unless another thread already does. A fire that comes while a run is going is therefore
  queued behind it rather than dropped; dates run one at a time, oldest first, each once.
- **Reconciliation at start.** :func:`serve` runs the same reconciliation once per job when it
  starts (:func:`catch_up`, a one-off job in a memory store), so a run killed (SIGKILL) or
  cancelled (SIGTERM) before the restart, or a fire missed while the process was down, is run once.
  The first start of a job is recorded in its history: fires before it are not owed.
- **A produced date is not run again** by the scheduler: a fire whose date has a successful run
  (by any trigger) queues nothing, and a queued date produced meanwhile is skipped when its turn
  comes (``batch run --date`` reruns a date on purpose).
- Jobs keep ``coalesce=True`` and ``misfire_grace_time`` from ``schedule.misfire_grace``; retries
  with ``schedule.retry_delay`` happen within the run of one date.
- SIGTERM or SIGINT stops new fires, asks a running job to stop before it commits (it is recorded
  ``cancelled`` and owed), and exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from batch_jobs.catchup import owed_dates
from batch_jobs.datequeue import DateQueue, Pending
from batch_jobs.errors import JobCancelledError
from batch_jobs.history import RunHistory, in_progress
from batch_jobs.spec import JobSpec, load_job
from batch_jobs.triggers import cron_trigger
from scorebridge.errors import ScorebridgeError

log = logging.getLogger("batch_jobs.scheduler")

JOB_FUNC = "batch_jobs.scheduler:scheduled_run"  # a textual reference, so the store can persist jobs
CATCHUP_FUNC = "batch_jobs.scheduler:catch_up"
VOLATILE = "volatile"  # the memory job store of the start-up reconciliation
# a fire returns as soon as it has queued its dates; these instances are the one running the queue
# plus fires arriving meanwhile (beyond them APScheduler would drop a fire, and the next
# reconciliation would find its date owed)
FIRE_INSTANCES = 8
SHUTDOWN = threading.Event()  # set on SIGTERM/SIGINT: running jobs stop before they commit

_QUEUES: dict[str, DateQueue] = {}
_QUEUES_LOCK = threading.Lock()


def queue_for(job: str) -> DateQueue:
    """The date queue of job ``job`` in this process."""
    with _QUEUES_LOCK:
        return _QUEUES.setdefault(job, DateQueue())


def _due(spec: JobSpec, fire_time: datetime | None) -> list[Pending]:
    """What a fire (or the start-up reconciliation, ``fire_time`` None) queues: the owed dates of
    the look-back window as catch-ups, and the fire's own date unless it was produced already."""
    history = RunHistory(spec.state_dir)
    items = []
    if spec.schedule.catchup_days:
        history.reap(spec.name)
        items = [Pending(o.ds, o.fire_time, "catchup") for o in owed_dates(spec, history)]
    if fire_time is not None:
        ds = spec.schedule.ds_for(fire_time)
        if not any(r["status"] == "success" for r in history.by_date(spec.name, [ds])[ds]):
            items.append(Pending(ds, fire_time, "schedule"))
        else:
            log.debug("%s dt=%s: already produced; the fire at %s has nothing to do", spec.name, ds, fire_time)
    return items


def _enqueue(job_file: str, fire_time: datetime | None) -> str:
    """Queue the due dates, then run the queue if nobody else does."""
    try:
        spec = load_job(job_file)
        items = _due(spec, fire_time)
    except ScorebridgeError as exc:  # an edited job file, an unreadable history: log, fire again later
        log.error("%s: %s", job_file, exc)
        return f"error: {exc}"
    queue = queue_for(spec.name)
    added, drain = queue.offer(items)
    running, waiting = queue.snapshot()
    for item in added:
        log.info("%s dt=%s: queued (%s, fire time %s)", spec.name, item.ds, item.trigger,
                 item.fire_time.isoformat())
    if not drain:
        if running and added:
            log.info("%s: dt=%s is running; waiting behind it: %s", spec.name, running, ", ".join(waiting))
        return "queued"
    queue.drain(lambda item: run_date(job_file, item), SHUTDOWN)
    return "drained"


def scheduled_run(job_file: str, fire_time: datetime | None = None) -> str:
    """The callable of a fire: queue the fire's date and the owed ones, run them (see the module doc).

    The job file is re-read at every fire and every date, so edits (other than the trigger) apply to
    the next run.
    """
    return _enqueue(job_file, fire_time or datetime.now(UTC))


def catch_up(job_file: str) -> str:
    """The start-up reconciliation of one job: queue and run its owed dates."""
    return _enqueue(job_file, None)


def _produced(spec: JobSpec, item: Pending) -> str | None:
    """Why ``item`` needs no run any more: produced meanwhile, or being run by another process."""
    rows = RunHistory(spec.state_dir).by_date(spec.name, [item.ds])[item.ds]
    for row in rows:
        if row["status"] == "success":
            return f"already produced by run {row['id']} ({row['trigger']})"
        if in_progress(row):
            return f"being run by pid {row['pid']} ({row['trigger']})"
    return None


def run_date(job_file: str, item: Pending) -> bool:
    """Run one queued date, retrying failures; False when the scheduler is shutting down.

    A failure after the last attempt is logged (and recorded in the history) and the queue moves on;
    the date stays owed, so the next reconciliation within the window runs it again.
    """
    from batch_jobs.runner import run_job

    try:
        spec = load_job(job_file)
        skip = _produced(spec, item)
    except ScorebridgeError as exc:
        log.error("dt=%s: %s", item.ds, exc)
        return True
    if skip:
        log.info("%s dt=%s: %s; not run again", spec.name, item.ds, skip)
        return True
    attempts = spec.schedule.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            result = run_job(spec, item.ds, trigger=item.trigger, attempt=attempt, cancel=SHUTDOWN,
                             fire_time=item.fire_time, tty=False)
            log.info("%s dt=%s: %s rows -> %s", spec.name, item.ds, f"{result.rows:,}", result.partition)
            return True
        except JobCancelledError as exc:
            log.warning("%s dt=%s: %s", spec.name, item.ds, exc)
            return False
        except Exception as exc:  # any failure may be transient (upstream late, disk, cluster)
            if attempt == attempts:
                log.error("%s dt=%s: attempt %d/%d failed, giving up (owed until a run succeeds): %s",
                          spec.name, item.ds, attempt, attempts, exc)
                return True
            log.warning("%s dt=%s: attempt %d/%d failed (%s); retrying in %.0fs", spec.name, item.ds, attempt,
                        attempts, exc, spec.schedule.retry_delay)
            if SHUTDOWN.wait(spec.schedule.retry_delay):
                log.warning("%s dt=%s: shutdown during the retry delay", spec.name, item.ds)
                return False
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
    """A thread-pool executor passing ``fire_time`` (the latest due fire time) to a fire.

    APScheduler 3 does not tell a job which fire time it is running for; a T+1 job needs it to score
    the right partition when it runs late (after a restart, or queued behind a long run).
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        if job.func_ref == JOB_FUNC:
            job = _FireTimeJob(job, run_times[-1])
        super()._do_submit_job(job, run_times[-1:])


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
    return BatchScheduler(jobstores={"default": jobstore, VOLATILE: MemoryJobStore()},
                          executors={"default": executor},
                          job_defaults={"coalesce": True, "max_instances": FIRE_INSTANCES}, timezone="UTC")


def sync_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Make the store hold exactly ``specs``, keeping stored fire times whose trigger is unchanged.

    Re-adding a job with ``replace_existing`` would recompute its next fire time from now and so drop
    a fire missed while the scheduler was down; an unchanged job is therefore only updated in place.
    """
    wanted = {spec.name: spec for spec in specs}
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id not in wanted:
            log.info("removing job %s from the store: no job file names it any more", job.id)
            scheduler.remove_job(job.id)
    for spec in specs:
        trigger = cron_trigger(spec.schedule.cron, spec.schedule.tz)
        options = {"args": [str(spec.source)], "name": spec.name,
                   "misfire_grace_time": int(spec.schedule.misfire_grace) or None,
                   "coalesce": True, "max_instances": FIRE_INSTANCES}
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
        catchup = f"catch-up over {spec.schedule.catchup_days} day(s)" if spec.schedule.catchup_days \
            else "catch-up off"
        log.info("job %s: cron %r in %s, next fire %s%s, %s", spec.name, spec.schedule.cron,
                 spec.schedule.timezone, job.next_run_time, late, catchup)


def start(specs: list[JobSpec], store: Path, *, max_workers: int = 4) -> BatchScheduler:
    """Start a scheduler for ``specs`` (store synced, start-up reconciliation queued); see :func:`stop`."""
    SHUTDOWN.clear()
    with _QUEUES_LOCK:
        _QUEUES.clear()
    scheduler = make_scheduler(make_jobstore(store), make_executor(max_workers))
    scheduler.start(paused=True)  # sync the store before anything can fire
    try:
        sync_jobs(scheduler, specs)
    except ScorebridgeError:
        scheduler.shutdown(wait=False)
        raise
    for spec in specs:
        RunHistory(spec.state_dir).scheduled_since(spec.name, record=time.time())  # the look-back's start
        if spec.schedule.catchup_days:
            scheduler.add_job(CATCHUP_FUNC, args=[str(spec.source)], id=f"{spec.name}:catch-up",
                              name=f"{spec.name} catch-up", jobstore=VOLATILE, misfire_grace_time=None)
    scheduler.resume()
    return scheduler


def stop(scheduler: BatchScheduler) -> None:
    """Stop new fires, ask running jobs to stop before they commit, wait for them."""
    SHUTDOWN.set()  # a running job aborts before commit: nothing half-written, owed at the next start
    scheduler.shutdown(wait=True)
    SHUTDOWN.clear()  # every job has returned: a later start (or run_date) begins afresh


def serve(specs: list[JobSpec], store: Path, *, max_workers: int = 4,
          stop_event: threading.Event | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop_event`` is set); returns the exit code."""
    stop_event = stop_event or threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler = start(specs, store, max_workers=max_workers)
        log.info("scheduler running %d job(s), store %s; SIGTERM or Ctrl-C stops it", len(specs), store)
        while not stop_event.wait(0.5):
            pass
        stop(scheduler)
        log.info("scheduler stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
