"""Which dates a scheduled job still owes: its cron trigger reconciled with its run history.

Over a look-back window of ``[schedule] catchup_days`` days (the last ``catchup_days`` x 24 hours,
and never before a scheduler first took the job on, as recorded in the history), every local day on
which the job's cron fired, at or before now, owes the partition its fire scores (that day minus
``lag_days``). A date stays owed until a run of it succeeds, whatever triggered that run (schedule,
catch-up, ``batch run``, backfill): killed, cancelled and failed runs do not count. A date that a
live process of this host is running right now is not owed while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from batch_jobs.history import RunHistory, in_progress
from batch_jobs.spec import JobSpec, ScheduleSpec
from batch_jobs.triggers import cron_trigger


@dataclass(frozen=True)
class Owed:
    """A date the scheduler still has to produce, the fire that should have, and the last outcome."""

    ds: str
    fire_time: datetime
    last: str  # "not run", "killed", "cancelled" or "failed: <reason>"


def window_fires(schedule: ScheduleSpec, now: datetime, days: float | None = None,
                 since: datetime | None = None) -> list[datetime]:
    """The first fire time of each local day with fires in ``(now - days, now]`` (and at or after
    ``since``), oldest first.

    ``days`` defaults to ``schedule.catchup_days``. One fire per local day: the fires of a day all
    score the same partition.
    """
    days = schedule.catchup_days if days is None else days
    if not days or schedule.cron is None:
        return []
    tz = schedule.tz
    trigger = cron_trigger(schedule.cron, tz)
    fires: list[datetime] = []
    probe = now - timedelta(days=days) + timedelta(microseconds=1)
    if since is not None:
        probe = max(probe, since)
    while (fire := trigger.get_next_fire_time(None, probe)) is not None and fire <= now:
        fires.append(fire)
        next_day = fire.astimezone(tz).date() + timedelta(days=1)
        probe = datetime.combine(next_day, time(), tz)
    return fires


def _outcome(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not run"
    if row["status"] == "failed":
        return f"failed: {row['message'] or 'no reason recorded'}"
    return row["status"]


def owed_dates(spec: JobSpec, history: RunHistory, now: datetime | None = None) -> list[Owed]:
    """The dates of ``spec``'s look-back window without a successful run, oldest first.

    Nothing is owed for a job no scheduler has taken on yet (a new job does not catch up the days
    before it was scheduled: ``batch backfill`` them).
    """
    now = now or datetime.now(UTC)
    since = history.scheduled_since(spec.name)
    if since is None:
        return []
    start = datetime.fromtimestamp(since, UTC)
    fires = {spec.schedule.ds_for(fire): fire for fire in reversed(window_fires(spec.schedule, now, since=start))}
    runs = history.by_date(spec.name, fires)
    owed = []
    for ds in sorted(fires):
        rows = runs[ds]
        if any(r["status"] == "success" or in_progress(r) for r in rows):
            continue
        owed.append(Owed(ds, fires[ds], _outcome(rows[0] if rows else None)))
    return owed
