"""Latency against the hypervisor's steal time: rounds of sequential requests, steal counted per round.

Starts one scorebridge server (defaults, audit log to a temporary file) on the credit-risk sample and
sends ``--rounds`` rounds of ``--requests`` sequential requests of ``--records`` records on one
keep-alive connection (after 50 warm-up requests). Each round prints its p50, its tail (p99 for one
record, p95 otherwise) and the share of the machine's CPU time that was steal (``/proc/stat``) during
the round. On a VM whose host takes vCPUs away, the rounds with steal are the ones with the long tails
(``docs/serving-performance.md``, "Steal time").

Usage: ``python benchmarks/steal_rounds.py --repo DIR [--records 1] [--requests 2000] [--rounds 12]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serve_bench import BUILD_SAMPLES, MODEL, RawClient, cpu_jiffies, positive_int, sequential, steal_meter  # noqa: E402

from scorebridge.bundle import Bundle  # noqa: E402
from scoring_service.testing import running_service  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="model repository holding credit_risk")
    parser.add_argument("--records", type=positive_int, default=1, help="records per request (default 1)")
    parser.add_argument("--requests", type=positive_int, default=None,
                        help="requests per round (default 2000 for one record, else 200)")
    parser.add_argument("--rounds", type=positive_int, default=12)
    args = parser.parse_args(argv)
    if not (args.repo / MODEL).is_dir():
        parser.error(f"--repo {args.repo} holds no {MODEL} model; build the samples with: {BUILD_SAMPLES}")
    if cpu_jiffies() is None:
        parser.error("needs Linux's /proc/stat to count steal time")
    n = args.requests or (2000 if args.records == 1 else 200)
    tail = "p99" if args.records == 1 else "p95"
    bundle = Bundle.load(args.repo / MODEL)
    records = json.loads(bundle.read_verification()[bundle.schema.names].dropna().to_json(orient="records"))
    body = json.dumps({"records": (records * (args.records // len(records) + 1))[:args.records]}).encode()

    def check(answer: bytes) -> None:
        assert len(json.loads(answer)["predictions"]) == args.records, answer[:200]

    fd, audit = tempfile.mkstemp(prefix="steal-rounds-audit-", suffix=".jsonl")
    os.close(fd)
    try:
        with running_service(args.repo, workers=len(os.sched_getaffinity(0)), args=["--audit-log", audit]) as base:
            host, port = base.removeprefix("http://").split(":")
            client = RawClient(host, int(port), f"/v1/models/{MODEL}/predict", body)
            print(f"steal_rounds: {args.records} record(s) per request, {n} sequential requests per round")
            for i in range(args.rounds):
                steal: dict[str, float] = {}
                with steal_meter(steal):
                    latency = sequential(client, n, check)
                print(f"round {i + 1:2d}: p50 {latency['p50']:.2f} ms, {tail} {latency[tail]:.2f} ms, "
                      f"steal {steal['steal_pct']:.1f}%", flush=True)
            client.close()
    finally:
        os.unlink(audit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
