"""``scorebridge batch``: run, backfill, schedule and inspect T+1 scoring jobs.

``register(subparsers)`` adds the command group to the main CLI; every handler returns an exit code
and raises :class:`~scorebridge.errors.ScorebridgeError` for expected failures, which the main CLI
prints as ``scorebridge: error: <one line>`` (exit 2). ``run`` and ``backfill`` log warnings only
(``-v`` for progress), so a failed run's stderr is that one line. ``python -m batch_jobs`` runs the
group standalone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from batch_jobs.errors import BatchError
from scorebridge.errors import ScorebridgeError

if TYPE_CHECKING:
    from batch_jobs.history import RunHistory
    from batch_jobs.runner import BackfillFailure, RunResult
    from batch_jobs.spec import JobSpec


def _quiet(args: argparse.Namespace) -> None:
    """One-shot commands log warnings only, unless ``-v``: stdout says what was written, stderr why not.

    Libraries' info lines (py4j's, say) go too; the Spark engine also sends its JVM's output to a log
    file in that case (``batch_jobs.spark.spark_log``).
    """
    if not getattr(args, "verbose", False):
        logging.getLogger().setLevel(logging.WARNING)


def _describe(result: RunResult) -> str:
    summary = result.record["summary"]
    drift = f", PSI {summary['psi_max']:.3f} ({summary['drift']})" if "psi_max" in summary else ""
    line = (f"{result.job} dt={result.ds}: {result.rows:,} rows scored in {result.duration:.1f}s{drift} "
            f"-> {result.partition}")
    if result.published is not None:
        from batch_jobs.online import describe

        line += f"; {describe(result.published)}"
    return line


def cmd_run(args: argparse.Namespace) -> int:
    from batch_jobs.runner import run_job
    from batch_jobs.spec import load_job

    _quiet(args)
    spec = load_job(args.job)
    print(_describe(run_job(spec, args.date)))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from batch_jobs.runner import RunResult, backfill, date_range
    from batch_jobs.spec import load_job

    _quiet(args)
    spec = load_job(args.job)
    total = len(date_range(args.start, args.end))

    def report(i: int, ds: str, outcome: RunResult | BackfillFailure) -> None:
        line = _describe(outcome) if isinstance(outcome, RunResult) else f"{spec.name} dt={ds}: FAILED: {outcome.error}"
        print(f"[{i}/{total}] {line}", flush=True)

    results, failures = backfill(spec, args.start, args.end, keep_going=args.keep_going, on_day=report)
    if not failures:
        return 0
    if not args.keep_going:
        first = failures[0]
        raise type(first.error)(f"backfill stopped at {first.ds} ({len(results)} of {total} days done; "
                                f"--keep-going tries the rest): {first.error}")
    dates = ", ".join(f.ds for f in failures)
    raise BatchError(f"backfill: {len(failures)} of {total} days failed ({dates}), {len(results)} done; "
                           f"first failure {failures[0].ds}: {failures[0].error}")


def cmd_publish(args: argparse.Namespace) -> int:
    from batch_jobs.online import describe, publish_committed
    from batch_jobs.spec import check_ds, load_job

    _quiet(args)
    spec = load_job(args.job)
    ds = check_ds(args.date)
    record = publish_committed(spec, ds)
    print(f"{spec.name} dt={ds}: {describe(record)} -> {spec.output.partition(ds) / '_PUBLISHED.json'}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from batch_jobs.scheduler import serve
    from batch_jobs.spec import load_job

    specs = [load_job(path) for path in args.jobs]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScorebridgeError(f"job name(s) {', '.join(dupes)} appear in more than one job file")
    unscheduled = [str(s.source) for s in specs if s.schedule.cron is None]
    if unscheduled:
        raise ScorebridgeError(f"{unscheduled[0]}: schedule.cron: required key is missing "
                               "(the job has no [schedule] table)")
    store = Path(args.store) if args.store else specs[0].state_dir / "scheduler.sqlite"
    return serve(specs, store, max_workers=args.max_workers)


def cmd_status(args: argparse.Namespace) -> int:
    from batch_jobs.history import RunHistory
    from batch_jobs.partition import read_run_record
    from batch_jobs.spec import load_job

    spec = load_job(args.job, check_model=False)
    history = RunHistory(spec.state_dir)
    runs = history.recent(spec.name, args.limit)
    print(f"job {spec.name} ({spec.source})")
    print(f"  model    {spec.model}")
    print(f"  output   {spec.output.path}/dt=<ds>/")
    if spec.schedule.cron:
        from batch_jobs.triggers import cron_trigger

        tz = spec.schedule.tz
        nxt = cron_trigger(spec.schedule.cron, tz).get_next_fire_time(None, datetime.now(tz))
        print(f"  schedule {spec.schedule.cron} ({spec.schedule.timezone}), next fire {nxt:%Y-%m-%d %H:%M %Z} "
              f"scores dt={spec.schedule.ds_for(nxt)}")
        print(f"  owed     {_owed(spec, history)}")
    if not runs:
        print("no runs recorded yet")
        return 0
    header = f"{'started (UTC)':<20} {'ds':<10} {'trigger':<9} {'status':<9} {'rows':>12} {'secs':>8}  detail"
    print(header)
    print("-" * len(header))
    for run in runs:
        started = datetime.fromtimestamp(run["started_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        secs = f"{run['finished_at'] - run['started_at']:.1f}" if run["finished_at"] else "-"
        rows = f"{run['rows_out']:,}" if run["rows_out"] is not None else "-"
        detail = run["message"] or ""
        if run["status"] == "success":
            record = read_run_record(Path(run["output"])) or {}
            psi = record.get("summary", {}).get("psi_max")
            detail = f"{run['model']}" + (f", PSI {psi:.3f}" if psi is not None else "")
            if run["message"]:  # an [online] job's publish
                detail += f", {run['message']}"
        print(f"{started:<20} {run['ds']:<10} {run['trigger']:<9} {run['status']:<9} {rows:>12} {secs:>8}  {detail}")
    return 0


def _owed(spec: JobSpec, history: RunHistory) -> str:
    """The status line of the dates the scheduler still owes."""
    from batch_jobs.catchup import owed_dates

    days = spec.schedule.catchup_days
    if not days:
        return "catch-up off (schedule.catchup_days = 0)"
    if history.scheduled_since(spec.name) is None:
        return "none: no scheduler has run this job yet (batch backfill produces past dates)"
    owed = owed_dates(spec, history)
    window = f"in the last {days} day(s)"
    if not owed:
        return f"none {window}"
    listed = ", ".join(f"{o.ds} ({o.last})" for o in owed)
    return f"{len(owed)} date(s) {window}, run at the scheduler's next start or fire: {listed}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` command group to the main CLI's subparsers."""
    p = subparsers.add_parser("batch", help="T+1 batch scoring jobs into Hive-style partitions",
                              description="Run, backfill, schedule and inspect batch scoring jobs "
                                          "declared in TOML job files (see docs/batch.md).")
    sub = p.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="score one partition now")
    r.add_argument("job", metavar="JOB.toml")
    r.add_argument("--date", metavar="YYYY-MM-DD",
                   help="partition to score (default: today in the job's time zone minus schedule.lag_days)")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("backfill", help="score each day of a date range, in order")
    b.add_argument("job", metavar="JOB.toml")
    b.add_argument("--start", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--end", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--keep-going", action="store_true",
                   help="try every day even after one fails (default: stop at the first failure)")
    b.set_defaults(func=cmd_backfill)

    pb = sub.add_parser("publish", help="(re)publish a committed date's input rows to the online feature store",
                        description="Publish the input partition of a committed date (its output partition "
                                    "holds _SUCCESS) as a new batch of the job's [online] feature set.")
    pb.add_argument("job", metavar="JOB.toml")
    pb.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    pb.set_defaults(func=cmd_publish)

    s = sub.add_parser("schedule", help="run jobs on their cron triggers until SIGTERM/SIGINT")
    s.add_argument("jobs", nargs="+", metavar="JOB.toml")
    s.add_argument("--store", metavar="PATH",
                   help="SQLite job store (default: <state_dir of the first job>/scheduler.sqlite)")
    s.add_argument("--max-workers", type=int, default=4, help="jobs that may run at once (default 4)")
    s.set_defaults(func=cmd_schedule)

    st = sub.add_parser("status", help="recent runs of a job and their outcome")
    st.add_argument("job", metavar="JOB.toml")
    st.add_argument("--limit", type=int, default=20)
    st.set_defaults(func=cmd_status)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m batch_jobs``) with the main CLI's error convention."""
    parser = argparse.ArgumentParser(prog="scorebridge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["batch", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ScorebridgeError as exc:
        print(f"scorebridge: error: {exc}", file=sys.stderr)
        return exc.exit_code
