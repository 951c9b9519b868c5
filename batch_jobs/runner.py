"""One run of a job: wait for the input, score it with the job's engine, publish the partition.

Order matters for the guarantees in ``docs/batch.md``: the engine can start (PySpark, Java), the
bundle and the input are checked before anything is created under the output table (a missing input
writes nothing), the data is staged in a hidden directory, and :func:`commit` seals it
(``_RUN.json``, ``_SUCCESS`` last), runs the engine's registration (the Hive table load) and only
then renames the partition into place: any failure leaves the previous partition and table state.
Every failure reaches the caller as a one-line :class:`~scorebridge.errors.ScorebridgeError`.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from batch_jobs.context import RunContext
from batch_jobs.errors import BatchError, JobCancelledError, UpstreamNotReadyError
from batch_jobs.failures import one_line, unwritable_output
from batch_jobs.history import RunHistory
from batch_jobs.partition import SUCCESS, StagedPartition, staged_partition
from batch_jobs.spec import InputSpec, JobSpec, check_ds
from batch_jobs.summary import ScoreSummary
from scorebridge.bundle import MANIFEST, Bundle, sha256_file
from scorebridge.engines import ENGINE_ARTIFACTS, choose_engine
from scorebridge.errors import ScorebridgeError

log = logging.getLogger("batch_jobs")

# engine name -> "module:function(RunContext) -> dict" (rows_in, rows_out, files, scoring)
ENGINES = {"local": "batch_jobs.local:run_local", "spark": "batch_jobs.spark:run_spark"}
# "module:function(JobSpec)": can the engine start at all? Checked before the run waits for its input
CHECKS = {"spark": "batch_jobs.spark:check_spark"}
# "module:function(RunContext, staged dir)": steps of the commit between sealing and publishing (the
# Hive table load); a failure publishes nothing
REGISTER = {"spark": "batch_jobs.spark:register_hive"}


@dataclass
class RunResult:
    """What a successful run produced."""

    job: str
    ds: str
    partition: Path
    rows: int
    duration: float
    record: dict[str, Any]
    published: dict[str, Any] | None = None  # the _PUBLISHED.json of an [online] job


def _resolve(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def format_seconds(seconds: float) -> str:
    """``90`` -> ``1m30s``; for messages that echo a configured duration."""
    seconds = round(seconds, 3)
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (sec, "s")) if v) or "0s"


def wait_for_input(spec: InputSpec, ds: str, cancel: threading.Event | None = None) -> Path:
    """Return the input partition once it exists (and holds ``_SUCCESS`` if required).

    Polls every ``poll_interval`` for up to ``wait_timeout``; then raises
    :class:`UpstreamNotReadyError` saying what is missing.
    """
    cancel = cancel or threading.Event()
    path = spec.partition(ds)
    marker = (path if path.is_dir() or not path.suffix else path.parent) / SUCCESS
    timeout = spec.wait_timeout if spec.wait_for_success else 0.0
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        exists = path.exists()
        if exists and (not spec.wait_for_success or marker.exists()):
            return path
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            after = f" after waiting {format_seconds(timeout)} (input.wait_timeout)" if timeout else ""
            if not exists:
                raise UpstreamNotReadyError(f"input partition {path} does not exist{after}: the upstream "
                                            f"job has not written ds={ds}; nothing was written")
            raise UpstreamNotReadyError(f"input partition {path} has no {SUCCESS} marker{after}: the upstream "
                                        f"job has not finished it; nothing was written")
        if not waited:
            log.info("waiting up to %s for %s", format_seconds(timeout), marker if exists else path)
            waited = True
        if cancel.wait(min(spec.poll_interval, remaining)):
            raise JobCancelledError(f"cancelled while waiting for {path}; nothing was written")


def _model_record(bundle: Bundle, engine: str) -> dict[str, Any]:
    """The model a run scored with: the artifact its engine read (``model.onnx``, ``model.ubj``, ...)."""
    entry = bundle.manifest["artifacts"].get(ENGINE_ARTIFACTS[engine][-1], {})
    return {"name": bundle.name, "version": bundle.version, "path": str(bundle.path), "engine": engine,
            "sha256": entry.get("sha256"), "artifact": entry.get("file"),
            "manifest_sha256": sha256_file(bundle.path / MANIFEST)}


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def commit(ctx: RunContext, stage: StagedPartition, record: dict[str, Any]) -> Path:
    """Publish a scored partition: seal it, register it, rename it into place; returns its path.

    Every step that can fail on the user's data or setup (a full disk writing ``_RUN.json``, a Hive
    table that does not take the rows) runs before the rename, so a failure leaves the previous
    partition and table as they were. Actions on a published partition (those that need its
    ``_SUCCESS``, such as loading it into an online store) belong after ``stage.publish()``.
    """
    stage.seal(record)
    if ctx.spec.engine in REGISTER:
        _resolve(REGISTER[ctx.spec.engine])(ctx, stage.path)
    return stage.publish()


def run_job(spec: JobSpec, ds: str | None = None, *, trigger: str = "manual", attempt: int = 1,
            cancel: threading.Event | None = None, tty: bool | None = None,
            fire_time: datetime | None = None, on_batch: Any = None) -> RunResult:
    """Run ``spec`` for partition ``ds`` (default: today in the job's zone minus ``lag_days``).

    Records the run in the job's history; raises a :class:`~scorebridge.errors.ScorebridgeError`
    (after recording it) when the run fails, and publishes nothing in that case.
    """
    ds = check_ds(ds or spec.default_ds())
    cancel = cancel or threading.Event()
    history = RunHistory(spec.state_dir)
    run_id = history.start(spec.name, ds, trigger, spec.engine, attempt)
    started = time.time()
    model_label = None
    try:
        if spec.engine in CHECKS:
            _resolve(CHECKS[spec.engine])(spec)
        bundle = Bundle.load(spec.model, verify=False)  # engines verify the artifacts they read
        model_label = f"{bundle.name}@{bundle.version}"
        # before waiting for the input: a runtime the bundle has no artifact for fails now, naming what it has
        engine = choose_engine(bundle, "batch", spec.local.runtime if spec.engine == "local" else "auto")
        summary = ScoreSummary(bundle.task, bundle.classes, bundle.read_verification())
        input_path = wait_for_input(spec.input, ds, cancel)
        online = None
        if spec.online is not None:  # a bad entity or feature column fails now, with nothing written
            from batch_jobs.online import resolve

            online = resolve(spec, bundle, input_path)
        log.info("%s dt=%s: scoring %s with %s (%s engine)", spec.name, ds, input_path, model_label, spec.engine)
        try:
            with staged_partition(spec.output.path, ds) as stage:
                ctx = RunContext(spec=spec, ds=ds, bundle=bundle, input_path=input_path, stage=stage.path,
                                 summary=summary, cancel=cancel, tty=tty, on_batch=on_batch)
                result = _resolve(ENGINES[spec.engine])(ctx)
                if cancel.is_set():
                    raise JobCancelledError("run cancelled before it committed; nothing was published")
                finished = time.time()
                record = {
                    "job": spec.name, "ds": ds, "status": "success", "trigger": trigger, "attempt": attempt,
                    "fire_time": fire_time.isoformat() if fire_time else None,
                    "engine": spec.engine, "scoring": result["scoring"],
                    "model": _model_record(bundle, engine),
                    "input": {"path": str(input_path), "format": spec.input.format, "rows": result["rows_in"]},
                    "output": {"path": str(stage.final), "rows": result["rows_out"], "files": result["files"],
                               "keep_columns": list(spec.output.keep_columns),
                               "columns": [*spec.output.keep_columns, *bundle.output_columns],
                               "hive_table": spec.output.hive_table},
                    "rows_in": result["rows_in"], "rows_out": result["rows_out"],
                    "started_at": _utc(started), "finished_at": _utc(finished),
                    "duration_s": round(finished - started, 3),
                    "rows_per_s": round(result["rows_out"] / max(finished - started, 1e-9)),
                    "host": socket.gethostname(), "pid": os.getpid(), "job_file": str(spec.source),
                    "summary": summary.result(),
                }
                final = commit(ctx, stage, record)
        except OSError as exc:  # creating, writing or renaming under the output table
            raise unwritable_output(spec.output.partition(ds), exc) from None
        published = None
        if online is not None:  # the partition is committed (its _SUCCESS exists): publish the day's rows
            from batch_jobs.online import publish_partition

            published = publish_partition(spec, bundle, ds, input_path, final, online)
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, (JobCancelledError, KeyboardInterrupt)) else "failed"
        try:
            history.finish(run_id, status, model=model_label, message=_one_line(exc))
        except BatchError as record_error:  # keep the run's own error; say why the history lacks it
            log.warning("%s", record_error)
        raise
    history.finish(run_id, "success", rows_in=result["rows_in"], rows_out=result["rows_out"],
                   model=model_label, output=str(final), message=_published_note(published))
    log.info("%s dt=%s: wrote %s rows to %s in %.1fs (PSI %s)", spec.name, ds, f"{result['rows_out']:,}",
             final, record["duration_s"], record["summary"].get("psi_max"))
    return RunResult(job=spec.name, ds=ds, partition=final, rows=result["rows_out"],
                     duration=record["duration_s"], record=record, published=published)


def _published_note(published: dict[str, Any] | None) -> str | None:
    """The run history's note of an [online] publish."""
    if published is None:
        return None
    return (f"published {published['entities']} entities to feature set {published['feature_set']} "
            f"(batch {published['token']})")


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(exc)}"


def date_range(start: str, end: str) -> list[str]:
    """The days from ``start`` to ``end`` inclusive, as ``YYYY-MM-DD``."""
    first, last = date.fromisoformat(check_ds(start)), date.fromisoformat(check_ds(end))
    if last < first:
        raise BatchError(f"--end {end} is before --start {start}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@dataclass
class BackfillFailure:
    """A day of a backfill that failed, with the one-line reason."""

    ds: str
    error: ScorebridgeError


def backfill(spec: JobSpec, start: str, end: str, *, keep_going: bool = False, tty: bool | None = None,
             on_day: Any = None) -> tuple[list[RunResult], list[BackfillFailure]]:
    """Run each day from ``start`` to ``end`` in order; returns the results and the failed days.

    Without ``keep_going`` the first failure stops the backfill (it is the last entry of the failures);
    with it every day is tried. ``on_day(index, ds, result_or_failure)`` is called after each day.
    A cancelled run (shutdown) always stops it.
    """
    days = date_range(start, end)
    results: list[RunResult] = []
    failures: list[BackfillFailure] = []
    for i, ds in enumerate(days, 1):
        try:
            outcome: RunResult | BackfillFailure = run_job(spec, ds, trigger="backfill", tty=tty)
            results.append(outcome)
        except JobCancelledError:
            raise
        except ScorebridgeError as exc:
            outcome = BackfillFailure(ds, exc)
            failures.append(outcome)
        if on_day is not None:
            on_day(i, ds, outcome)
        if failures and not keep_going:
            break
    return results, failures
