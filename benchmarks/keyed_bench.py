"""Keyed one-record requests against full one-record requests, on one server in one run.

Starts a throwaway ``redis-server`` (``online_features.server``), publishes the credit_risk verification
rows as two batches of feature set ``credit_risk`` (keyed ``c0``, ``c1``, ...), and serves the sample
repository with ``--feature-store`` (gunicorn, loopback). Then, in alternating rounds over one
keep-alive connection each, it sends ``{"records": [{"customer_id": "c17"}]}`` (keyed: every input from
the store) and the same record with every input (full), and prints p50/p99 of each and what the key
adds. Usage: ``python benchmarks/keyed_bench.py [--repo DIR] [--calls N] [--rounds R] [--workers W]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serve_bench import BUILD_SAMPLES, positive_int  # noqa: E402


def publish(url: str, records: list[dict]) -> list[str]:
    """Publish ``records`` as the previous and the current batch of set credit_risk; the keys."""
    import pandas as pd
    import pyarrow as pa

    from online_features.publish import publish_batch

    keys = [f"c{i}" for i in range(len(records))]
    frame = pd.DataFrame(records)
    frame.insert(0, "customer_id", keys)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    today = datetime.now(UTC).date()
    for ago in (2, 1):
        publish_batch(url, "credit_risk", table, entity="customer_id", features=list(records[0]),
                      dt=(today - timedelta(days=ago)).isoformat())
    return keys


def timed_posts(conn: http.client.HTTPConnection, bodies: list[bytes], calls: int) -> np.ndarray:
    """Latency in ms of ``calls`` POSTs cycling through ``bodies`` (each answer read whole and checked)."""
    headers = {"Content-Type": "application/json"}
    out = np.empty(calls)
    for i in range(calls):
        body = bodies[i % len(bodies)]
        t0 = time.perf_counter()
        conn.request("POST", "/v1/models/credit_risk/predict", body, headers)
        response = conn.getresponse()
        data = response.read()
        out[i] = time.perf_counter() - t0
        if response.status != 200:
            raise SystemExit(f"keyed_bench: HTTP {response.status}: {data[:300]!r}")
    return out * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=None, help="model repository holding credit_risk")
    parser.add_argument("--calls", type=positive_int, default=2000, help="requests of each kind per round")
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--workers", type=positive_int, default=1)
    args = parser.parse_args(argv)
    if args.repo is not None and not (args.repo / "credit_risk").is_dir():
        parser.error(f"--repo {args.repo} holds no credit_risk model; build the samples with: {BUILD_SAMPLES}")
    if args.repo is None:
        from sample_models import build_all

        args.repo = Path(tempfile.mkdtemp(prefix="keyed-bench-")) / "models"
        build_all(args.repo, names=("credit_risk",))
    from online_features.server import running_redis
    from scorebridge.bundle import Bundle
    from scoring_service.testing import running_service

    bundle = Bundle.load(args.repo / "credit_risk")
    records = json.loads(bundle.read_verification()[bundle.schema.names].to_json(orient="records"))
    with running_redis() as url:
        keys = publish(url, records)
        serve = ["--poll-interval", "0", "--audit-log", "off", "--feature-store", url]
        with running_service(args.repo, workers=args.workers, args=serve) as base:
            parts = urlsplit(base)
            keyed = [json.dumps({"records": [{"customer_id": k}]}).encode() for k in keys]
            full = [json.dumps({"records": [r]}).encode() for r in records]
            conns = {name: http.client.HTTPConnection(parts.hostname, parts.port) for name in ("keyed", "full")}
            samples: dict[str, list[np.ndarray]] = {"keyed": [], "full": []}
            for name, bodies in (("keyed", keyed), ("full", full)):  # warm up: connections, caches, the pointer
                timed_posts(conns[name], bodies, 200)
            for r in range(args.rounds):
                order = (("keyed", keyed), ("full", full)) if r % 2 == 0 else (("full", full), ("keyed", keyed))
                for name, bodies in order:
                    samples[name].append(timed_posts(conns[name], bodies, args.calls))
            for c in conns.values():
                c.close()
    print(f"keyed_bench: credit_risk, one-record requests, {args.workers} worker(s), {args.rounds} alternating "
          f"rounds x {args.calls} calls, loopback")
    print("| request | p50 ms | p99 ms |")
    print("|---|---|---|")
    stats = {}
    for name, rounds in samples.items():
        t = np.concatenate(rounds)
        stats[name] = (np.percentile(t, 50), np.percentile(t, 99))
        print(f"| {name} | {stats[name][0]:.3f} | {stats[name][1]:.3f} |")
    added = (stats["keyed"][0] - stats["full"][0], stats["keyed"][1] - stats["full"][1])
    print(f"| added by the key | {added[0]:+.3f} | {added[1]:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
