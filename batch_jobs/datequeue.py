"""The dates a scheduled job is to run, in one queue per job: one at a time, oldest first, each once.

A fire (or the reconciliation at start) offers its dates (:meth:`~DateQueue.offer`); a date already
waiting or running is not added again. The thread whose offer finds nobody running the queue
drains it (:meth:`~DateQueue.drain`); the others return at once, so a fire that comes while a run is
going is queued behind it, never dropped. The queue only orders and deduplicates: what a date's run
does is the caller's function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Pending:
    """A date to run: ``trigger`` is ``schedule`` (a fire's own date) or ``catchup`` (an owed date)."""

    ds: str
    fire_time: datetime
    trigger: str


class DateQueue:
    """One job's queue of dates (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._running: str | None = None
        self._draining = False

    def offer(self, items: Iterable[Pending]) -> tuple[list[Pending], bool]:
        """Add the items whose date is neither waiting nor running; returns them and whether the
        caller is to :meth:`drain` (nobody else is draining).

        A fire's own date replaces a waiting catch-up of the same date, so the run is recorded as the
        fire's, with its fire time.
        """
        added = []
        with self._lock:
            for item in items:
                waiting = self._pending.get(item.ds)
                if item.ds == self._running:
                    continue
                if waiting is None or (waiting.trigger != "schedule" and item.trigger == "schedule"):
                    self._pending[item.ds] = item
                    if waiting is None:
                        added.append(item)
            drain = bool(self._pending) and not self._draining
            if drain:
                self._draining = True
        return added, drain

    def drain(self, run: Callable[[Pending], bool], stop: threading.Event) -> None:
        """Run the waiting dates oldest first until none is left, ``stop`` is set or ``run`` returns
        False; dates left waiting are run by the next :meth:`offer` that drains."""
        finished = False
        try:
            while not stop.is_set():
                with self._lock:
                    if not self._pending:
                        self._draining = False
                        finished = True
                        return
                    item = self._pending.pop(min(self._pending))
                    self._running = item.ds
                try:
                    if not run(item):
                        return
                finally:
                    with self._lock:
                        self._running = None
        finally:
            if not finished:  # stopped early: let the next offer drain what is left
                with self._lock:
                    self._draining = False

    def snapshot(self) -> tuple[str | None, list[str]]:
        """The date running and the dates waiting (for logs and tests)."""
        with self._lock:
            return self._running, sorted(self._pending)
