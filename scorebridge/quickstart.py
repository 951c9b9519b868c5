"""``scorebridge quickstart``: the whole workflow on the sample models, end to end.

Trains the sample pipelines, exports them to verified bundles (printing each fidelity table),
scores a file locally, serves the credit-risk model over HTTP and scores it, runs one T+1 batch job
over a sample partition, and scores the model from generated Java code both ways; it ends with the
command that opens the web console over the models and that nightly run.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
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
    from exporters.report import format_table
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
        print(format_table(bundle.manifest["fidelity"], excluded=bundle.manifest.get("excluded")))

    credit = bundles["credit_risk"]
    _stage("2. score a file locally (ONNX Runtime)")
    rows = credit.read_verification()[credit.schema.names]
    scored = load_engine(credit, "onnx").predict(rows).to_frame()
    out = write_table(scored, workdir / "credit_risk_scores.parquet")
    print(f"{len(scored)} rows -> {out}")
    print(scored.head(5).to_string(index=False))

    from batch_jobs.demo import run_demo
    from scorebridge.java.demo import run as java_demo
    from scoring_service.testing import running_service

    context = running_service(repo, engine="onnx", workers=1) if "service" not in skip else nullcontext(None)
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

        if base_url and "java" not in skip:
            _stage("4. Java: generated typed client, over HTTP and in-process PMML")
            with _timed():
                print(java_demo(credit.path, base_url))

    if "batch" not in skip:
        _stage("5. T+1 batch job over a sample partition")
        with _timed():
            partition = Path(run_demo(workdir / "batch", credit.path))
        _show_partition(partition)

    _stage("done")
    print(f"everything the demo wrote is under {workdir.resolve()}")
    _stage("next: open the web console (models, fidelity, the nightly run)")
    command, url = console_command(repo, None if "batch" in skip else workdir / "batch")
    print(f"run   {command}")
    print(f"open  {url}")
    print("      (scorebridge serve --repo ... --jobs ... serves the same console at /ui/ beside the scoring API)")
    return 0


def console_command(repo: Path, jobs: Path | None, port: int | None = None) -> tuple[str, str]:
    """The command that serves the console over ``repo`` (and the jobs in ``jobs``), and its URL."""
    import shlex

    from scoring_service.cli import CONSOLE_PORT

    port = port or CONSOLE_PORT

    parts = ["scorebridge", "console", "--repo", str(repo.resolve())]
    if jobs is not None:
        parts += ["--jobs", str(jobs.resolve())]
    parts += ["--port", str(port)]
    return shlex.join(parts), f"http://127.0.0.1:{port}/ui/"


def _show_partition(partition: Path) -> None:
    """List an output partition and show its first rows and run record."""
    import pandas as pd

    print(f"output partition: {partition}")
    for path in sorted(partition.iterdir()):
        print(f"   {path.name:<28} {path.stat().st_size:>10,} bytes")
    print(pd.read_parquet(partition).head(3).to_string(index=False))
    record = json.loads((partition / "_RUN.json").read_text()) if (partition / "_RUN.json").is_file() else {}
    keys = ("job", "ds", "rows_in", "rows_out", "engine", "duration_s")
    print("_RUN.json:", json.dumps({k: record[k] for k in keys if k in record}))


def _json_value(value: object) -> object:
    """A pandas cell as JSON: NaN becomes null, NumPy scalars plain Python."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
