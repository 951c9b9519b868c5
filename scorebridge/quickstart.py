"""``scorebridge quickstart``: the whole workflow on the sample models, end to end.

Trains the sample pipelines, exports them to verified bundles (printing each fidelity table),
scores a file locally, serves the credit-risk model over HTTP and scores it, runs one T+1 batch job
over a sample partition, and scores the model from generated Java code both ways. Where
``redis-server`` is installed, the batch job also publishes its features to a throwaway Redis and the
service scores a record sent by its key alone. It ends with the command that opens the web console
over the models and that nightly run.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any


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

    from online_features.server import redis_server_path, running_redis

    online = "batch" not in skip and "online" not in skip and redis_server_path() is not None
    with running_redis() if online else nullcontext(None) as store_url:
        if "batch" not in skip:
            _stage("5. T+1 batch job over a sample partition" + (", published to Redis" if store_url else ""))
            with _timed():
                partition = Path(run_demo(workdir / "batch", credit.path, feature_store=store_url))
            _show_partition(partition)
        if store_url:
            _stage("6. online features: score a record by its key alone")
            _score_by_key(repo, store_url, rows.iloc[0], partition)
        elif "batch" not in skip and "online" not in skip:
            print("\n(online features skipped: redis-server is not installed; bash scripts/bootstrap.sh installs "
                  "Debian's, then the quickstart also publishes the batch and scores a record by key)")

    _stage("done")
    print(f"everything the demo wrote is under {workdir.resolve()}")
    _stage("next: open the web console (models, fidelity, the nightly run)")
    command, url = console_command(repo, None if "batch" in skip else workdir / "batch")
    print(f"run   {command}")
    print(f"open  {url}")
    print("      (scorebridge serve --repo ... --jobs ... serves the same console at /ui/ beside the scoring API)")
    return 0


def _score_by_key(repo: Path, store_url: str, first_row: Any, partition: Path) -> None:
    """Serve with the feature store and score ``user_id`` 1 by key, then with its full record."""
    from scoring_service.testing import running_service

    published = json.loads((partition / "_PUBLISHED.json").read_text())
    print(f"feature set {published['feature_set']!r}: batch {published['dt']}, {published['entities']:,} "
          f"entities x {len(published['features'])} features (from {partition.name}/_PUBLISHED.json)")
    with running_service(repo, engine="onnx", workers=1, args=["--feature-store", store_url]) as base_url:
        url = f"{base_url}/v1/models/credit_risk/predict"
        full = {k: _json_value(v) for k, v in first_row.items()}
        answers = []
        for record in ({"user_id": 1}, full):
            body = json.dumps({"records": [record]}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                answers.append(json.load(resp)["predictions"][0])
        print(f"POST {url}  {{\"records\": [{{\"user_id\": 1}}]}}")
        print(json.dumps(answers[0], indent=2))
        keyed = {k: v for k, v in answers[0].items() if k != "features"}
        same = "the same answer" if keyed == answers[1] else f"a DIFFERENT answer: {answers[1]}"
        print(f"the full record of user 1 sent in the request gets {same}")


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
