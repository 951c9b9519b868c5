"""``scorebridge quickstart``: the whole workflow on the sample models, end to end.

Trains the sample pipelines, exports them to verified bundles (printing each fidelity table),
scores a file locally, serves the credit-risk model over HTTP and scores it, runs one T+1 batch job
over a sample partition, and scores the model from generated Java code both ways.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path


def _stage(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


@contextmanager
def _timed() -> Iterator[None]:
    start = time.perf_counter()
    yield
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)


def run(workdir: Path, skip: set[str] | None = None) -> int:
    """Run the demo in ``workdir`` (its ``models/`` is rebuilt); returns the exit code."""
    from exporters.fidelity import format_table
    from sample_models import SAMPLES, build_all
    from scorebridge.cli import write_table
    from scorebridge.engines import load_engine

    skip = skip or set()
    workdir.mkdir(parents=True, exist_ok=True)
    repo = workdir / "models"
    shutil.rmtree(repo, ignore_errors=True)

    _stage("1. train the sample pipelines and export verified bundles")
    with _timed():
        bundles = build_all(repo)
    for name in SAMPLES:
        bundle = bundles[name]
        print(f"\n{bundle.path}  ({bundle.manifest['estimator']}, {bundle.task}, "
              f"{len(bundle.schema)} inputs)")
        print(format_table(bundle.manifest["fidelity"]))

    credit = bundles["credit_risk"]
    _stage("2. score a file locally (ONNX Runtime)")
    rows = credit.read_verification()[credit.schema.names]
    scored = load_engine(credit, "onnx").predict(rows).to_frame()
    out = write_table(scored, workdir / "credit_risk_scores.parquet")
    print(f"{len(scored)} rows -> {out}")
    print(scored.head(5).to_string(index=False))

    service = _optional("scoring_service.testing", "running_service") if "service" not in skip else None
    context = service(repo, engine="onnx", workers=1) if service else nullcontext(None)
    with context as base_url:
        if base_url:
            _stage("3. serve the models over HTTP and score one record")
            record = {k: _json_value(v) for k, v in rows.iloc[0].items()}
            body = json.dumps({"records": [record]}).encode()
            request = urllib.request.Request(f"{base_url}/v1/models/credit_risk/predict", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                answer = json.load(resp)
            print(f"POST {base_url}/v1/models/credit_risk/predict")
            print(json.dumps(answer, indent=2))
        elif "service" not in skip:
            print("\n(service stage unavailable: scoring_service is not installed)")

        java_demo = _optional("scorebridge.java.demo", "run") if "java" not in skip else None
        if java_demo and base_url:
            _stage("4. Java: generated typed client, over HTTP and in-process PMML")
            with _timed():
                print(java_demo(credit.path, base_url))

    batch_demo = _optional("batch_jobs.demo", "run") if "batch" not in skip else None
    if batch_demo:
        _stage("5. T+1 batch job over a sample partition")
        with _timed():
            print(batch_demo(workdir / "batch", credit.path))

    _stage("done")
    print(f"everything the demo wrote is under {workdir.resolve()}")
    return 0


def _json_value(value: object) -> object:
    """A pandas cell as JSON: NaN becomes null, NumPy scalars plain Python."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _optional(module: str, attr: str) -> Callable | None:
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
