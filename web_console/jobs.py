"""The batch jobs the console shows: job files of a directory, their run histories and run records.

Everything is read through the batch package's own readers (:func:`batch_jobs.spec.load_job`,
:class:`batch_jobs.history.RunHistory`, :func:`batch_jobs.partition.read_run_record`); nothing here
parses a job file or the history database itself, and nothing is written. What leaves this module is
stripped of absolute paths (:func:`public_text`): the console shows no paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_jobs.history import RunHistory
from batch_jobs.partition import read_run_record
from batch_jobs.spec import JobSpec, load_job
from scorebridge.bundle import MANIFEST
from scorebridge.errors import ScorebridgeError

HISTORY_LIMIT = 90  # nights on a job page
# an absolute path inside a message: keep its last component only
_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/,;()<>]+/)*([^\s'\"/,;()<>]+)")


def public_text(text: str | None) -> str | None:
    """``text`` with every absolute path cut to ``…/<last component>``."""
    if text is None:
        return None
    return _ABSOLUTE.sub(lambda m: "…/" + m.group(1), text)


def model_name(spec: JobSpec) -> str:
    """The model a job scores (its bundle reference is ``<repo>/<name>[@v]`` or a version directory)."""
    base = Path(spec.model.rpartition("@")[0] if "@" in spec.model else spec.model)
    return base.parent.name if (base / MANIFEST).is_file() else base.name


@dataclass(frozen=True)
class Job:
    """One job file of the jobs directory: its spec, or why it could not be read."""

    name: str
    spec: JobSpec | None
    error: str | None = None

    @property
    def model(self) -> str | None:
        return model_name(self.spec) if self.spec is not None else None


def read_jobs(directory: Path | None) -> dict[str, Job]:
    """``{job name: Job}`` for every ``*.toml`` in ``directory`` (a file that does not load is kept,
    under its file name, with the reason)."""
    if directory is None or not directory.is_dir():
        return {}
    jobs: dict[str, Job] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            spec = load_job(path, check_model=False)
        except ScorebridgeError as exc:
            jobs[path.stem] = Job(path.stem, None, public_text(str(exc)))
            continue
        jobs[spec.name] = Job(spec.name, spec)
    return jobs


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if epoch else None


def run_view(row: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """One history row (and its partition's run record) as the console shows it."""
    summary = (record or {}).get("summary", {})
    duration = record.get("duration_s") if record else None
    if duration is None and row.get("finished_at"):
        duration = round(row["finished_at"] - row["started_at"], 3)
    return {"id": row["id"], "ds": row["ds"], "trigger": row["trigger"], "attempt": row["attempt"],
            "status": row["status"], "started_at": _iso(row["started_at"]), "duration_s": duration,
            "rows": row["rows_out"], "model": row["model"], "message": public_text(row["message"]),
            "psi": summary.get("psi_max"), "drift": summary.get("drift")}


def runs(spec: JobSpec, limit: int = HISTORY_LIMIT) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(the job's latest runs, newest first; the run record of the newest successful one)."""
    views, latest = [], None
    for row in RunHistory(spec.state_dir).recent(spec.name, limit):
        record = read_run_record(Path(row["output"])) if row["status"] == "success" and row["output"] else None
        if record is not None and latest is None:
            latest = record
        views.append(run_view(row, record))
    return views, latest


def last_run(spec: JobSpec) -> dict[str, Any] | None:
    """The job's most recent run (any outcome), or None."""
    found, _ = runs(spec, 1)
    return found[0] if found else None


def score_histograms(record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The latest run's score histogram against the reference (the bundle's verification scores), per
    score column: the PSI bins (reference deciles) with each side's share of rows."""
    out = []
    for column, stats in ((record or {}).get("summary", {}).get("scores") or {}).items():
        psi = stats.get("psi")
        if not psi:
            continue
        edges = psi["bins"]
        labels = ([f"< {edges[0]:.3g}"] + [f"{a:.3g} – {b:.3g}" for a, b in zip(edges, edges[1:])]
                  + [f"≥ {edges[-1]:.3g}"]) if edges else ["all"]
        bins = [{"bin": i, "label": label, "reference": e, "latest": a}
                for i, (label, e, a) in enumerate(zip(labels, psi["expected"], psi["actual"]))]
        out.append({"column": column, "psi": psi["value"], "level": psi["level"], "bins": bins})
    return out
