"""Latency against the hypervisor's steal time: rounds of sequential requests, steal counted per round.

Starts one scorebridge server (defaults, audit log to a temporary file) on the credit-risk sample and
sends ``--rounds`` rounds of ``--requests`` sequential requests of ``--records`` records on one
keep-alive connection. Each round prints its p50, its tail (p99 for one record, p95 otherwise) and the
share of the machine's CPU time that was steal (``/proc/stat``) during the round. On a VM whose host
takes vCPUs away, the rounds with steal are the ones with the long tails
(``docs/serving-performance.md``, "Steal time").

Usage: ``python benchmarks/steal_rounds.py --repo DIR [--records 1] [--requests 2000] [--rounds 12]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serve_bench import MODEL, RawClient, cpu_jiffies, steal_meter  # noqa: E402

from scorebridge.bundle import Bundle  # noqa: E402
from scoring_service.testing import running_service  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="model repository holding credit_risk")
    parser.add_argument("--records", type=int, default=1, help="records per request (default 1)")
    parser.add_argument("--requests", type=int, default=None, help="requests per round (default 2000 / 200)")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    if cpu_jiffies() is None:
        print("steal_rounds: needs Linux's /proc/stat", file=sys.stderr)
        return 2
    n = args.requests or (2000 if args.records == 1 else 200)
    tail = 99 if args.records == 1 else 95
    bundle = Bundle.load(args.repo / MODEL)
    records = json.loads(bundle.read_verification()[bundle.schema.names].dropna().to_json(orient="records"))
    body = json.dumps({"records": (records * (args.records // len(records) + 1))[:args.records]}).encode()
    fd, audit = tempfile.mkstemp(prefix="steal-rounds-audit-", suffix=".jsonl")
    os.close(fd)
    try:
        with running_service(args.repo, workers=len(os.sched_getaffinity(0)), args=["--audit-log", audit]) as base:
            host, port = base.removeprefix("http://").split(":")
            client = RawClient(host, int(port), f"/v1/models/{MODEL}/predict", body)
            for _ in range(50):
                client.call()
            print(f"steal_rounds: {args.records} record(s) per request, {n} sequential requests per round")
            for i in range(args.rounds):
                times, steal = np.empty(n), {}
                with steal_meter(steal):
                    for j in range(n):
                        t0 = time.perf_counter()
                        status, answer = client.call()
                        times[j] = time.perf_counter() - t0
                        if status != 200:
                            raise SystemExit(f"steal_rounds: HTTP {status}: {answer[:200]!r}")
                ms = times * 1000.0
                p50, p_tail = np.percentile(ms, [50, tail])
                print(f"round {i + 1:2d}: p50 {p50:.2f} ms, p{tail} {p_tail:.2f} ms, max {ms.max():.1f} ms, "
                      f"steal {steal['steal_pct']:.1f}%", flush=True)
            client.close()
    finally:
        os.unlink(audit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
