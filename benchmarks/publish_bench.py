"""Publish benchmark: ``online_features.publish.publish_batch`` into a throwaway ``redis-server``.

Publishes a generated batch (1,000,000 entities x 7 features by default: five numbers with some
NaN, a boolean-like integer flag and one categorical string) as one feature set and prints, per
round, the entities published per second by wall clock and by this process' CPU time (the client;
Redis runs in its own process, whose CPU seconds are printed too), and Redis' ``used_memory``
growth per entity once the batch is current. Each round publishes the same table as a new date
with ``keep_batches=1``, so the previous round's batch is deleted after the flip (``UNLINK`` frees
in the background, so the memory figure is the growth of the first round).

Also prints the encoding step alone (``online_features.encode.json_rows`` plus the conversion to
``bytes``) and, with ``--profile``, a cProfile of one publish (top 15 by cumulative time).

Target on the 2-core machine: >= 300,000 entities/s (wall).

Usage: ``python benchmarks/publish_bench.py [--entities 1000000] [--rounds 3] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

FEATURES = ["income", "debt_ratio", "utilisation", "age", "accounts", "delinquent", "segment"]


def make_table(n: int, seed: int = 7) -> pa.Table:
    """``n`` entities (distinct int64 keys, shuffled) with 7 features, about 5% NaN in two columns."""
    rng = np.random.default_rng(seed)
    debt = rng.random(n)
    debt[rng.random(n) < 0.05] = np.nan
    util = np.round(rng.random(n), 4)
    util[rng.random(n) < 0.05] = np.nan
    segments = np.array(["retail", "sme", "corporate", "private \"gold\"", "étudiant"])
    return pa.table({
        "customer_id": pa.array(rng.permutation(n).astype(np.int64) + 10_000_000),
        "income": pa.array(np.round(rng.lognormal(10, 1, n), 2)),
        "debt_ratio": pa.array(debt),
        "utilisation": pa.array(util),
        "age": pa.array(rng.integers(18, 95, n)),
        "accounts": pa.array(rng.integers(0, 12, n).astype(np.int32)),
        "delinquent": pa.array(rng.integers(0, 2, n).astype(np.int8)),
        "segment": pa.array(segments[rng.integers(0, len(segments), n)]).dictionary_encode(),
    })


def used_memory(r) -> int:
    return int(r.info("memory")["used_memory"])


def server_cpu(r) -> float:
    """redis-server's CPU seconds so far (user + system)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one more publish")
    args = parser.parse_args()

    from online_features.encode import as_bytes, json_rows
    from online_features.publish import publish_batch
    from online_features.server import running_redis
    from online_features.store import client

    table = make_table(args.entities)
    n = table.num_rows
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"entities {n:,} x {len(FEATURES)} features; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    with running_redis() as url, client(url) as r:
        base = used_memory(r)
        for i in range(args.rounds):
            wall0, cpu0, srv0 = time.perf_counter(), time.process_time(), server_cpu(r)
            result = publish_batch(url, "bench", table, entity="customer_id", features=FEATURES,
                                   dt=f"2026-11-{i + 1:02d}", keep_batches=1)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            srv = server_cpu(r) - srv0
            line = (f"round {i + 1}: {wall:.3f} s wall, {cpu:.3f} s client CPU, {srv:.3f} s redis-server CPU: "
                    f"{n / wall:,.0f} entities/s wall, {n / cpu:,.0f} entities/s client CPU "
                    f"({result.buckets:,} buckets)")
            if i == 0:
                grown = used_memory(r) - base
                line += f"; Redis used_memory +{grown / 2**20:.1f} MiB = {grown / n:.1f} bytes/entity"
            if i == 0:
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                line += f"; publisher peak RSS {rss:.0f} MiB ({rss0:.0f} MiB with the table built)"
            print(line, flush=True)
        t0 = time.perf_counter()
        as_bytes(json_rows(table, FEATURES))
        encode = time.perf_counter() - t0
        print(f"encode alone (json_rows + bytes): {encode:.3f} s ({n / encode:,.0f} rows/s)")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            publish_batch(url, "bench", table, entity="customer_id", features=FEATURES, dt="2026-11-28",
                          keep_batches=1)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
