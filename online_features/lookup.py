"""Looking up a request's entities in a published feature set, at scoring time.

One :class:`FeatureLookup` per worker process (it holds a ``redis.Redis`` and its connection pool,
thread safe). It caches each feature set's pointer (:class:`~online_features.store.SetMeta`) and
answers all the records of a request in ONE pipelined round trip (``layout`` has the keys):

* ``HGET meta generation``, to notice a publish (then the pointer is re-read and the lookup redone once);
* per record and served batch (the current and the previous), ``HGET`` of the entity's bucket hash;
* per record, for additive features, ``HMGET`` of the increments of every day after the oldest of
  those batches up to today (in the set's time zone); each batch adds the days after its own ``dt``.

It never raises into the request: a reply slower than the timeout is the outcome ``timeout``, any other
Redis failure (refused, reset, auth, OOM) ``unavailable``. After a connection failure the store is
skipped (``unavailable`` at once) for :attr:`FeatureLookup.backoff_s`, so a store that is down costs
a request nothing, and one that black-holes packets costs at most one timeout per backoff period.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from online_features.layout import bucket_key, bucket_of, increment_days, increment_key, meta_key
from online_features.store import BatchInfo, SetMeta, check_url, parse_meta

DEFAULT_TIMEOUT_MS = 20.0
BACKOFF_S = 1.0  # skip the store this long after a connection failure
SERVED = 2  # batches read per key: the current one, then the previous one


@dataclass(frozen=True)
class KeyResult:
    """What the store holds for one entity key.

    ``values``: feature -> value (additive ones with their increments), empty when no batch holds the
    key or on an error; ``batch``: the dt of the batch used (``None``: neither batch holds the key);
    ``fallback``: the batch used is not the current one; ``error``: ``"timeout"`` or ``"unavailable"``.
    """

    values: dict[str, Any] = field(default_factory=dict)
    batch: str | None = None
    fallback: bool = False
    error: str | None = None

    @property
    def outcome(self) -> str:
        """``hit``, ``fallback``, ``miss``, ``timeout`` or ``unavailable`` (the metrics' label)."""
        if self.error:
            return self.error
        if self.batch is None:
            return "miss"
        return "fallback" if self.fallback else "hit"

    def annotation(self) -> dict[str, Any]:
        """The ``features`` member of a prediction: ``{"batch", "fallback"}`` or ``{"batch": null, "error"}``."""
        if self.error:
            return {"batch": None, "error": self.error}
        return {"batch": self.batch, "fallback": self.fallback}


@dataclass
class _SetState:
    meta: SetMeta | None = None
    loaded: bool = False  # the pointer was read at least once (meta None then: never published)


class FeatureLookup:
    """Per-worker lookups against the store at ``url``, each bounded by ``timeout_ms``."""

    def __init__(self, url: str, timeout_ms: float = DEFAULT_TIMEOUT_MS, *, backoff_s: float = BACKOFF_S) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        check_url(url, "feature store")
        self.timeout_ms = float(timeout_ms)
        self.backoff_s = backoff_s
        timeout = self.timeout_ms / 1000.0
        # no retries: redis-py's default retries a failed command ten times with backoff, far past our budget
        self.redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                          retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
        self._errors = (redis.RedisError, OSError)
        self._timeouts = (redis.TimeoutError, TimeoutError)
        self._connection_errors = (redis.ConnectionError, ConnectionError)
        self._sets: dict[str, _SetState] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # each request thread's connection
        self._connections: list[Any] = []
        self._down_until = 0.0

    # -- the pointer --------------------------------------------------------------------------
    def meta(self, feature_set: str) -> SetMeta | None:
        """The cached pointer of ``feature_set`` (``None``: not read yet, or never published)."""
        state = self._sets.get(feature_set)
        return state.meta if state is not None else None

    def refresh(self, feature_set: str) -> str | None:
        """Read the pointer now; ``None`` if read (even empty), else the error outcome. Never raises."""
        if self._skipping():
            return "unavailable"
        try:
            self._store_meta(feature_set, parse_meta(self.redis.hgetall(meta_key(feature_set))))
        except self._errors as exc:
            return self._failed(exc)
        return None

    def _store_meta(self, feature_set: str, meta: SetMeta | None) -> None:
        with self._lock:
            state = self._sets.setdefault(feature_set, _SetState())
            state.meta, state.loaded = meta, True

    # -- lookups --------------------------------------------------------------------------------
    def lookup(self, feature_set: str, keys: Sequence[str]) -> list[KeyResult]:
        """One result per key (the layout's entity text), in order. Never raises."""
        if not keys:
            return []
        if self._skipping():
            return [KeyResult(error="unavailable")] * len(keys)
        try:
            state = self._sets.get(feature_set)
            if state is None or not state.loaded:
                self._store_meta(feature_set, parse_meta(self.redis.hgetall(meta_key(feature_set))))
                state = self._sets[feature_set]
            for attempt in (0, 1):
                meta = state.meta
                generation, replies = self._round_trip(feature_set, meta, keys)
                if generation == (meta.generation if meta else None) or attempt:
                    return _results(meta, keys, replies)
                # a publish moved the pointer since we cached it: re-read it and redo once
                self._store_meta(feature_set, parse_meta(self.redis.hgetall(meta_key(feature_set))))
        except self._errors as exc:
            return [KeyResult(error=self._failed(exc))] * len(keys)
        raise AssertionError("unreachable")  # pragma: no cover

    def _round_trip(self, feature_set: str, meta: SetMeta | None, keys: Sequence[str]) -> tuple[int | None, list]:
        commands: list[tuple] = [("HGET", meta_key(feature_set), "generation")]
        batches = meta.batches[:SERVED] if meta else ()
        days: list[str] = []
        additive: tuple[str, ...] = ()
        if batches and batches[0].additive:
            additive = batches[0].additive
            days = increment_days(batches[-1].dt, _today(batches[0].timezone))
        for key in keys:
            for b in batches:
                commands.append(("HGET", bucket_key(feature_set, bucket_of(key, b.buckets), b.token), key))
            for day in days:
                commands.append(("HMGET", increment_key(feature_set, key, day), *additive))
        replies = self._pipeline(commands)
        raw = replies[0]
        return (int(raw) if raw is not None else None), [replies[1:], batches, days, additive]

    def _pipeline(self, commands: list[tuple]) -> list:
        """Send ``commands`` in one write and read their replies in order: a pipeline on the wire, on this
        thread's own redis-py connection (the ``Pipeline`` object and the pool's checkout, which polls the
        socket, cost about as much CPU again as the round trip)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            pool = self.redis.connection_pool
            conn = self._local.conn = pool.connection_class(**pool.connection_kwargs)
            with self._lock:
                self._connections.append(conn)
        try:
            conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            return [conn.read_response() for _ in commands]
        except BaseException:
            conn.disconnect()  # replies may be left unread on it: reconnect at the next lookup
            raise

    # -- store health ---------------------------------------------------------------------------
    def _skipping(self) -> bool:
        return self._down_until > 0.0 and time.monotonic() < self._down_until

    def _failed(self, exc: BaseException) -> str:
        if isinstance(exc, self._timeouts):
            return "timeout"
        if isinstance(exc, self._connection_errors):
            self._down_until = time.monotonic() + self.backoff_s
        return "unavailable"

    def close(self) -> None:
        """Close the connections (the worker is exiting)."""
        with self._lock:
            for conn in self._connections:
                conn.disconnect()
        self.redis.close()


def _today(timezone: str) -> date:
    try:
        return datetime.now(ZoneInfo(timezone)).date()
    except (KeyError, ValueError):  # an unknown zone name in the pointer: UTC rather than no answer
        return datetime.now(ZoneInfo("UTC")).date()


def _results(meta: SetMeta | None, keys: Sequence[str], packed: list) -> list[KeyResult]:
    """Split the pipeline's replies into one :class:`KeyResult` per key."""
    replies, batches, days, additive = packed
    if not batches:
        return [KeyResult()] * len(keys)
    per_key = len(batches) + len(days)
    out = []
    for i in range(len(keys)):
        chunk = replies[i * per_key:(i + 1) * per_key]
        found = next(((j, b) for j, b in enumerate(batches) if chunk[j] is not None), None)
        if found is None:
            out.append(KeyResult())
            continue
        j, batch = found
        values = _values(batch, chunk[j])
        if additive:
            _add_increments(values, additive, days, chunk[len(batches):], batch.dt)
        out.append(KeyResult(values=values, batch=batch.dt, fallback=j > 0))
    return out


def _values(batch: BatchInfo, raw: bytes) -> dict[str, Any]:
    return dict(zip(batch.features, json.loads(raw), strict=False))


def _add_increments(values: dict[str, Any], additive: tuple[str, ...], days: list[str], replies: list,
                    batch_dt: str) -> None:
    """Add each day's increments after ``batch_dt`` to the batch values. A feature the batch holds no
    value for stays missing: its history is unknown, and today's increments alone would understate it."""
    for day, row in zip(days, replies, strict=True):
        if day <= batch_dt:
            continue
        for name, inc in zip(additive, row, strict=True):
            if inc is not None and values.get(name) is not None:
                values[name] = values[name] + float(inc)
