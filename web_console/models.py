"""What the console shows about models: the registry's snapshot (live, serving, refused versions) and
what each bundle's manifest and ``fidelity_rows.parquet`` already hold. Nothing is scored here.

Versions on disk are the snapshot's view of the repository (loaded, refused and kept out of memory
by ``--max-versions``): the registry has just listed it, and a page render touches no bundle but the
one it plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scorebridge.bundle import MANIFEST, sha256_file, version_key
from scorebridge.engines import scoring_artifacts
from scoring_service.registry import ModelRegistry, Snapshot, outside
from web_console.jobs import public_text

DIFF_BINS = 20  # bars of the difference histogram, per evaluator
LARGEST = 5  # rows listed under the plots: where each evaluator drifts most
_FIDELITY_KEYS = ("evaluator", "rows", "max_abs_diff", "max_rel_diff", "rows_over_tolerance", "rows_without_output",
                  "label_agreement", "label_mismatches", "tolerance", "gating", "passed", "worst_rows", "error")


def verdict(report: dict[str, Any]) -> str:
    """``pass`` / ``FAIL`` for a gate, ``reported`` for a second opinion (pypmml), ``error`` if it did not run."""
    if "error" in report:
        return "error"
    if not report.get("gating", True):
        return "reported"
    return "pass" if report.get("passed") else "FAIL"


def fidelity_table(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per evaluator measured at export time, with its verdict."""
    rows = []
    for name, report in (manifest.get("fidelity") or {}).items():
        row = {"artifact": name, "verdict": verdict(report), **{k: report[k] for k in _FIDELITY_KEYS if k in report}}
        if "error" in row:
            row["error"] = public_text(str(row["error"]))
        rows.append(row)
    return rows


def _versions(snap: Snapshot, name: str) -> list[str]:
    found = set(snap.models.get(name, {})) | set(snap.refused.get(name, {})) | set(snap.not_loaded.get(name, ()))
    return sorted(found, key=version_key)


def _manifest(registry: ModelRegistry, snap: Snapshot, name: str, version: str) -> dict[str, Any] | None:
    """A version's manifest: the loaded bundle's, else read from disk (a refused version's may not parse)."""
    model = snap.models.get(name, {}).get(version)
    if model is not None:
        return model.bundle.manifest
    try:
        if outside(registry.repo, registry.repo / name / version):  # a link out of the repository: not ours
            return None
        return json.loads((registry.repo / name / version / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def overview(registry: ModelRegistry, runs_by_model: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The models page: per model, its live version and what it was measured to do, with the last run of
    each job scoring it (``runs_by_model``)."""
    snap = registry.snapshot
    names = sorted(set(snap.models) | set(snap.refused) | set(snap.not_loaded))
    out = []
    for name in names:
        live = snap.latest.get(name)
        versions = _versions(snap, name)
        manifest = _manifest(registry, snap, name, live or versions[-1]) or {}
        artifacts = scoring_artifacts(snap.models[name][live].bundle) if live else []
        out.append({
            "name": name, "task": manifest.get("task"), "live": live, "versions": versions,
            "refused": [{"version": v, "reason": public_text(snap.refused[name][v])}
                        for v in sorted(snap.refused.get(name, {}), key=version_key)],
            "artifacts": artifacts,
            "fidelity": [{"artifact": row["artifact"], "verdict": row["verdict"]} for row in fidelity_table(manifest)],
            "excluded": {fmt: e.get("reason") for fmt, e in (manifest.get("excluded") or {}).items()},
            "jobs": runs_by_model.get(name, []),
        })
    return out


def version_rows(registry: ModelRegistry, name: str) -> list[dict[str, Any]]:
    """Every version of ``name`` on disk, newest first: status, created, libraries, tolerance, fidelity."""
    snap = registry.snapshot
    rows = []
    for version in reversed(_versions(snap, name)):
        manifest = _manifest(registry, snap, name, version) or {}
        if version in snap.refused.get(name, {}):
            status = "refused"
        elif version == snap.latest.get(name):
            status = "live"
        elif version in snap.models.get(name, {}):
            status = "serving"
        else:
            status = "not loaded"
        reason = public_text(snap.refused.get(name, {}).get(version))
        rows.append({"version": version, "status": status, "reason": reason,
                     "created_at": manifest.get("created_at"), "estimator": manifest.get("estimator"),
                     "libraries": manifest.get("libraries") or {}, "tolerance": manifest.get("tolerance"),
                     "fidelity": fidelity_table(manifest),
                     "excluded": {fmt: public_text(e.get("message") or e.get("reason"))
                                  for fmt, e in (manifest.get("excluded") or {}).items()}})
    return rows


def plotted_columns(task: str, columns: list[str]) -> list[str]:
    """The score columns a scatter shows: a binary classifier's positive class, else every column."""
    return columns[-1:] if task == "classification" and len(columns) == 2 else columns


def scatter(registry: ModelRegistry, name: str, version: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Native against exported output on the verification rows, per evaluator, with each row's kind and
    missing / unseen flags, and a histogram of the differences (``DIFF_BINS`` bars per evaluator)."""
    entry = manifest.get("fidelity_rows")
    if not entry:
        return {"available": False, "reason": "this bundle was exported before scorebridge kept per-row outputs "
                                              "(fidelity_rows.parquet): re-export it to see the plot"}
    if not isinstance(entry.get("file"), str) or Path(entry["file"]).name != entry["file"]:
        return {"available": False, "reason": "the manifest's fidelity_rows entry does not name a file of the bundle"}
    path = registry.repo / name / version / entry["file"]
    try:
        if sha256_file(path) != entry["sha256"]:
            return {"available": False, "reason": f"{entry['file']} does not match its sha256 in the manifest"}
        import pyarrow.parquet as pq

        table = pq.read_table(path).to_pydict()
    except OSError:
        return {"available": False, "reason": f"{entry['file']} is missing or unreadable"}
    columns = plotted_columns(manifest.get("task", ""), entry["columns"])
    evaluators = []
    for evaluator in entry["evaluators"]:
        points = []
        for column in columns:
            native, exported = table[f"native_{column}"], table[f"{evaluator}_{column}"]
            for row, (n, e) in enumerate(zip(native, exported)):
                finite = n is not None and e is not None and np.isfinite(n) and np.isfinite(e)
                points.append({"row": row, "column": column, "kind": table["kind"][row],
                               "flag": ("missing value" if table["missing"][row] else
                                        "unseen category" if table["unseen"][row] else "sample"),
                               "native": n if finite else None, "exported": e if finite else None,
                               "diff": e - n if finite else None})
        evaluators.append({"evaluator": evaluator, "points": points, "histogram": _histogram(points),
                           "largest": _largest(points)})
    return {"available": True, "columns": columns, "evaluators": evaluators}


def _largest(points: list[dict[str, Any]], count: int = LARGEST) -> list[dict[str, Any]]:
    """The rows where the evaluator differs most from the native pipeline (no output counts as most)."""
    return sorted(points, key=lambda p: -abs(p["diff"]) if p["diff"] is not None else -np.inf)[:count]


def _histogram(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    diffs = np.array([p["diff"] for p in points if p["diff"] is not None], dtype=np.float64)
    if diffs.size == 0:
        return []
    counts, edges = np.histogram(diffs, bins=DIFF_BINS)
    return [{"x0": float(a), "x1": float(b), "count": int(c)} for a, b, c in zip(edges, edges[1:], counts)]


def model_page(registry: ModelRegistry, name: str, version: str | None) -> dict[str, Any] | None:
    """The model page (None: no such model): its versions, and for ``version`` (default: the live one,
    else the newest) the scatter, the difference histogram and the input schema."""
    snap = registry.snapshot
    versions = _versions(snap, name)
    if not versions:
        return None
    selected = version or snap.latest.get(name) or versions[-1]
    if selected not in versions:
        return {"missing_version": selected, "versions": versions}
    manifest = _manifest(registry, snap, name, selected) or {}
    model = snap.models.get(name, {}).get(selected)
    inputs = manifest.get("inputs") or []
    return {"name": name, "selected": selected, "live": snap.latest.get(name), "task": manifest.get("task"),
            "classes": manifest.get("classes") or [], "target": manifest.get("target"),
            "estimator": manifest.get("estimator"), "engine": model.engine_name if model else None,
            "versions": version_rows(registry, name),
            "inputs": [{"name": f.get("name"), "dtype": f.get("dtype"), "optype": f.get("optype"),
                        "categories": f.get("categories"), "nullable": f.get("nullable", True),
                        "strict": bool(f.get("strict", False))} for f in inputs],
            "scatter": scatter(registry, name, selected, manifest)}
