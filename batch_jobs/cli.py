"""``scorebridge batch``: run, backfill, schedule and inspect T+1 scoring jobs.

``register(subparsers)`` adds the command group to the main CLI; every handler returns an exit code
and raises :class:`~scorebridge.errors.ScorebridgeError` for expected failures, which the main CLI
prints as ``scorebridge: error: <one line>``. ``python -m batch_jobs`` runs the group standalone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scorebridge.errors import ScorebridgeError

if TYPE_CHECKING:
    from batch_jobs.runner import RunResult


def _describe(result: RunResult) -> str:
    summary = result.record["summary"]
    drift = f", PSI {summary['psi_max']:.3f} ({summary['drift']})" if "psi_max" in summary else ""
    return (f"{result.job} dt={result.ds}: {result.rows:,} rows scored in {result.duration:.1f}s{drift} "
            f"-> {result.partition}")


def cmd_run(args: argparse.Namespace) -> int:
    from batch_jobs.runner import run_job
    from batch_jobs.spec import load_job

    spec = load_job(args.job)
    print(_describe(run_job(spec, args.date)))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from batch_jobs.runner import date_range, run_job
    from batch_jobs.spec import load_job

    spec = load_job(args.job)
    days = date_range(args.start, args.end)
    for i, ds in enumerate(days, 1):
        try:
            print(f"[{i}/{len(days)}] " + _describe(run_job(spec, ds, trigger="backfill")), flush=True)
        except ScorebridgeError as exc:
            raise type(exc)(f"backfill stopped at {ds} ({i - 1} of {len(days)} days done): {exc}") from exc
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
    runs = RunHistory(spec.state_dir).recent(spec.name, args.limit)
    print(f"job {spec.name} ({spec.source})")
    print(f"  model    {spec.model}")
    print(f"  output   {spec.output.path}/dt=<ds>/")
    if spec.schedule.cron:
        from batch_jobs.triggers import cron_trigger

        tz = spec.schedule.tz
        nxt = cron_trigger(spec.schedule.cron, tz).get_next_fire_time(None, datetime.now(tz))
        print(f"  schedule {spec.schedule.cron} ({spec.schedule.timezone}), next fire {nxt:%Y-%m-%d %H:%M %Z} "
              f"scores dt={spec.schedule.ds_for(nxt)}")
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
        print(f"{started:<20} {run['ds']:<10} {run['trigger']:<9} {run['status']:<9} {rows:>12} {secs:>8}  {detail}")
    return 0


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
    b.set_defaults(func=cmd_backfill)

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
