"""Server-side render time of the web console's pages with many models and versions.

    python benchmarks/console_bench.py [--models 20] [--versions 10] [--repeat 30] [--source REPO]

Builds a repository of ``--models`` models of ``--versions`` versions each (copies of the credit-risk
sample bundle, renamed in their manifests; ``--source`` takes an existing repository holding
``credit_risk``, else the sample is trained and exported into a temporary one), runs a real nightly
job three times, builds the scoring service's app over it (console on, as by default) and times
``/ui/``, ``/ui/models/<name>``, ``/ui/jobs/<job>`` and their JSON twins through Flask's test client:
the server's own work (registry snapshot, manifests, ``fidelity_rows.parquet``, run history, Jinja),
without the network. Target: under 200 ms for ``/ui/`` and ``/ui/models/<name>``.

Measured on this project's 2 shared cores (2026-12, 20 x 10 credit-risk versions, 30 renders each):
``/ui/`` 2.1 ms median (p95 6.3 ms), ``/ui/models/<name>`` 4.5 ms median (p95 9.2 ms; the slowest of
the 30 took 161 ms once, a pause of the shared machine), ``/ui/jobs/<job>`` 1.1 ms. The model page's
share is mostly ``fidelity_rows.parquet`` (read and digest-checked) and its four evaluators' points.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_repo(source: Path, dest: Path, models: int, versions: int) -> list[str]:
    """``models`` x ``versions`` copies of ``source/credit_risk/1``, each manifest naming its own place."""
    names = [f"model_{i:02d}" for i in range(models)]
    template = source / "credit_risk" / "1"
    manifest = json.loads((template / "manifest.json").read_text())
    for name in names:
        for v in range(1, versions + 1):
            target = dest / name / str(v)
            shutil.copytree(template, target)
            (target / "manifest.json").write_text(json.dumps({**manifest, "name": name, "version": str(v)}))
    return names


def nightly_runs(repo: Path, jobs: Path, model: str) -> str:
    """Three real nightly runs of a job scoring ``model``; returns the job's name."""
    from batch_jobs.demo import write_job, write_sample_partition
    from batch_jobs.runner import run_job
    from batch_jobs.spec import load_job
    from scorebridge.bundle import Bundle

    bundle = Bundle.load(repo / model, verify=False)
    spec = load_job(write_job(jobs, repo / model, name="nightly"))
    for i, ds in enumerate(("2026-11-19", "2026-11-20", "2026-11-21")):
        write_sample_partition(bundle, jobs / "warehouse" / "features" / f"dt={ds}", 2000, seed=i)
        run_job(spec, ds, tty=False)
    return spec.name


def timed(client, url: str, repeat: int) -> list[float]:
    response = client.get(url)  # the first render compiles the template
    assert response.status_code == 200, (url, response.status_code, response.data[:300])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000.0)
        assert response.status_code == 200
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--source", type=Path, help="a repository holding credit_risk (default: build the sample)")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)  # the registry logs every one of the bundles it loads
    from scoring_service.app import create_app

    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        work = Path(tmp)
        source = args.source
        if source is None:
            from sample_models import build_all

            source = work / "sample"
            build_all(source, ("credit_risk",))
        repo = work / "models"
        names = build_repo(source, repo, args.models, args.versions)
        job = nightly_runs(repo, work / "jobs", names[0])
        start = time.perf_counter()
        # ONNX Runtime, no second big-request session: the console reads the snapshot, not the engines
        app = create_app({"repo": repo, "engine": "onnx", "batch_threads": 1, "poll_interval": 0,
                          "audit_log": None, "jobs": work / "jobs"})
        snap = app.extensions["scorebridge"].registry.snapshot
        loaded = sum(len(v) for v in snap.models.values())
        print(f"{len(snap.models)} models, {loaded} versions loaded ({sum(map(len, snap.refused.values()))} refused) "
              f"in {time.perf_counter() - start:.1f} s")
        client = app.test_client()
        print(f"{'page':<34} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  (n={args.repeat})")
        for url in ("/ui/", f"/ui/models/{names[0]}", f"/ui/jobs/{job}",
                    "/ui/api/models", f"/ui/api/models/{names[0]}", f"/ui/api/jobs/{job}"):
            times = sorted(timed(client, url, args.repeat))
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{url:<34} {statistics.median(times):>10.1f} {p95:>8.1f} {times[-1]:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
