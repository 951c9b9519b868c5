"""A bounded load generator for the operations tests: keep-alive clients that tag every request."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import requests
import urllib3


def refused(exc: BaseException) -> bool:
    """Whether a requests error is a refused *new* connection (nothing was sent), not a lost request."""
    seen = exc
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        seen = seen.__context__ or seen.__cause__ or (seen.args[0] if seen.args and isinstance(
            seen.args[0], BaseException) else None)
        if isinstance(seen, urllib3.exceptions.MaxRetryError):
            seen = seen.reason
    return False


class Load:
    """``threads`` clients, each with its own keep-alive session, posting ``payload`` until stopped
    (at most ``seconds``). Every request carries a unique ``X-Request-ID``; answered ids are kept.

    ``retry``: send a request again, up to twice, when its connection broke (scoring is idempotent:
    what a client with a retry policy does when a worker is killed under it). Without it, any broken
    connection is a lost request. ``refused_ok``: a refused new connection (the server is gone) ends
    that client quietly instead of counting as lost.
    """

    def __init__(self, url: str, payload: dict, threads: int = 4, *, retry: bool = False, refused_ok: bool = False,
                 seconds: float = 60.0) -> None:
        self.url, self.payload, self.retry, self.refused_ok = url, payload, retry, refused_ok
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.versions: Counter = Counter()  # of the v1 answers
        self.answered: list[str] = []  # request ids answered 200
        self.lost: list[str] = []
        self.retried = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, client: int) -> None:
        with requests.Session() as session:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                rid = f"load-{client}-{next(self._ids)}"
                for attempt in range(3 if self.retry else 1):
                    try:
                        r = session.post(self.url, json=self.payload, headers={"X-Request-ID": rid}, timeout=20)
                    except requests.RequestException as exc:
                        if self.refused_ok and refused(exc):
                            return
                        if attempt < 2 and self.retry:
                            with self._lock:
                                self.retried += 1
                            continue
                        with self._lock:
                            self.lost.append(f"{rid}: {exc!r}")
                        break
                    version = r.json().get("version") if r.status_code == 200 else None
                    with self._lock:
                        self.statuses[r.status_code] += 1
                        self.versions[version] += 1
                        if r.status_code == 200:
                            self.answered.append(rid)
                    break

    def total(self) -> int:
        return sum(self.statuses.values())

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` more requests have been answered."""
        target, deadline = self.total() + n, time.monotonic() + timeout
        while self.total() < target and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.total() >= target, f"only {self.total()} answers: {self.statuses}, lost {self.lost[:3]}"

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
