"""Pin each gunicorn worker's request threads to a core of its own.

Why: with one worker per core, a request hops between the worker's main thread (epoll) and a pool
thread, and the scheduler lets them wander across cores. On the 2-vCPU VM this project measures
on, waking a thread on another (idle) vCPU is much of what a one-record request waits for. Pinned,
the one-record p50 fell from 1.09-1.24 ms to 0.86-0.91 ms and p99 from 2.16-2.51 ms to 1.64-1.66 ms
(``docs/serving-performance.md``). nginx's ``worker_cpu_affinity auto`` does the same.

What is pinned: the worker's main thread, once its models are loaded, and so the request threads it
starts afterwards (a new thread inherits its creator's CPU mask). The engines' own thread pools
(ONNX Runtime, OpenMP) start while models load, which runs in :func:`every_core` (an admin reload
may run on a pinned request thread), so they keep every core. A big request, which the batch
engine spreads over every core, runs in :func:`every_core`: its thread is unpinned for the call, and
any OpenMP thread it starts inherits the full mask.

Each worker claims a CPU with a lock file in the server's runtime directory; the lock dies with the
worker, so a respawned worker takes the core its predecessor held.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

MODES = ("auto", "on", "off")

# the core this process's request threads are pinned to, and every core it may use (None: not pinned)
_pinned: tuple[int, frozenset[int]] | None = None
_claim: IO[bytes] | None = None  # held open for the worker's life: the lock on its core


def should_pin(mode: str, workers: int, cpus: int) -> bool:
    """``auto`` pins when there is one worker per core (the default sizing) on 2+ cores."""
    if mode not in MODES:
        raise ValueError(f"cpu affinity must be one of {', '.join(MODES)}, got {mode!r}")
    return mode == "on" or (mode == "auto" and cpus > 1 and workers == cpus)


def claim_core(lock_dir: Path, fallback: int) -> int | None:
    """Pin the calling thread to the first CPU no live worker holds (or ``fallback``'s, round robin,
    when every CPU is taken); returns the CPU, or ``None`` where affinity is not supported."""
    global _pinned, _claim
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    chosen = cpus[fallback % len(cpus)]
    for cpu in cpus:
        handle = open(lock_dir / f"cpu-{cpu}.lock", "wb")  # noqa: SIM115 - held until the worker exits
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _claim, chosen = handle, cpu
        break
    os.sched_setaffinity(0, {chosen})
    _pinned = (chosen, frozenset(cpus))
    return chosen


@contextmanager
def every_core() -> Iterator[None]:
    """Let the calling thread use every core for the duration (a no-op when the worker is not pinned)."""
    if _pinned is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, _pinned[1])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
