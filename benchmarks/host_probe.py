"""What this host charges for waking a thread on another CPU, and for work that follows an idle spell.

Two effects that ``serve_bench.py`` cannot separate from scorebridge's own cost, measured here
without any serving code (Linux, 2+ CPUs):

- **wake-up across CPUs**: a one-byte round trip over two pipes between two processes, both pinned to
  one CPU, then to two different CPUs; back to back and after 1 ms of sleep. Every request hands work
  between threads (the load generator, gunicorn's main thread, a request thread, OpenMP's team), and a
  hand-off to a CPU that has gone idle pays this.
- **work after idle**: decoding the same 100-record JSON document (~14 KB) back to back, and with
  2 ms of sleep before each decode, in alternating blocks so that the host's drift shows too. On a VM
  whose idle vCPUs halt, the physical core may run someone else meanwhile, and the next request
  starts with cold caches.

Usage: ``python benchmarks/host_probe.py [--rounds 3000]``. docs/serving-performance.md gives this machine's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np


def _stats(samples: list[float], unit: float, digits: int) -> str:
    p50, p99 = np.percentile(np.asarray(samples) * unit, [50, 99])
    return f"p50 {p50:.{digits}f} / p99 {p99:.{digits}f}"


def round_trip(parent_cpu: int, child_cpu: int, rounds: int, idle: float) -> str:
    """p50/p99 (µs) of a pipe round trip to a child process, each pinned to the given CPU."""
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo process
        try:
            os.sched_setaffinity(0, {child_cpu})
            while (byte := os.read(child_reads, 1)) != b"q":
                os.write(child_writes, byte)
        finally:
            os._exit(0)
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {parent_cpu})
    samples = []
    try:
        for i in range(rounds + 100):
            if idle:
                time.sleep(idle)
            start = time.perf_counter()
            os.write(parent_writes, b"x")
            os.read(parent_reads, 1)
            if i >= 100:  # the first round trips warm both processes up
                samples.append(time.perf_counter() - start)
    finally:
        os.write(parent_writes, b"q")
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, before)
        for fd in (child_reads, parent_writes, parent_reads, child_writes):
            os.close(fd)
    return _stats(samples, 1e6, 1) + " µs"


def after_idle(work: Callable[[], object], rounds: int, idle: float) -> str:
    """p50/p99 (ms) of ``work`` run back to back (``idle`` 0) or after ``idle`` seconds of sleep."""
    for _ in range(20):
        work()
    samples = []
    for _ in range(rounds):
        if idle:
            time.sleep(idle)
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return _stats(samples, 1e3, 3) + " ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="round trips per case (default 3000)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if not hasattr(os, "sched_setaffinity"):
        print("host_probe: needs Linux (it pins processes to CPUs)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("host_probe: needs at least 2 CPUs", file=sys.stderr)
        return 2
    a, b = cpus[0], cpus[1]
    print(f"pipe round trip between two processes (CPUs {a} and {b}):")
    for label, child, idle in (("same CPU", a, 0.0), ("two CPUs", b, 0.0),
                               ("same CPU, after 1 ms idle", a, 1e-3), ("two CPUs, after 1 ms idle", b, 1e-3)):
        print(f"  {label:<27} {round_trip(a, child, args.rounds, idle)}")
    record = {"income": 64875.29, "debt_ratio": 0.1311, "age": 58, "credit_lines": 2.0,
              "late_payments": None, "region": "west", "employment": "salaried"}
    document = json.dumps({"records": [record] * 100})
    rounds = max(args.rounds // 6, 100)
    print(f"json.loads of a 100-record document ({len(document) // 1000} KB), alternating blocks of {rounds}:")
    for block in range(3):
        print(f"  block {block + 1}: back to back {after_idle(lambda: json.loads(document), rounds, 0.0)}; "
              f"after 2 ms idle {after_idle(lambda: json.loads(document), rounds, 2e-3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
