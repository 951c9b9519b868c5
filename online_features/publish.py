"""Publishing one partition's rows as a batch of a feature set (see :mod:`online_features.layout`).

A publish reserves a fresh generation (the pointer's ``reserved`` field), writes every key of the
new batch (pipelined ``HSET``s, each bucket with its expiry) under that token, then moves the
pointer in one ``WATCH``/``MULTI``/``EXEC`` on the meta hash; only then are the batches beyond
``keep_batches`` (and a replaced batch of the same date) deleted. A publish interrupted anywhere
(kill -9, a lost connection) leaves the pointer as it was, so readers keep the previous batches;
the orphaned keys expire with their TTL, and since their generation stays reserved no later
publish writes into them.

The rows are grouped by bucket and encoded column by column (:mod:`online_features.encode`), a
slab of buckets at a time; the per-entity Python work left is handing each key and value to
redis-py, whose hiredis ``pack_command`` writes the wire format.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from online_features.encode import RowEncoder, as_bytes, json_rows
from online_features.layout import bucket_count, bucket_key, meta_key, token_of
from online_features.store import BatchInfo, FeatureStoreError, check_set_name, client, parse_meta, redact

PIPELINE_BUCKETS = 256  # buckets per pipeline round trip (about 16k entities)
SLAB_BUCKETS = 4096  # buckets encoded at a time (about 262k entities): bounds the Python objects in memory
SLAB_ROWS = 1 << 18  # keys hashed at a time


@dataclass(frozen=True)
class PublishResult:
    """What a publish wrote."""

    feature_set: str
    dt: str
    token: str
    entities: int
    features: tuple[str, ...]
    buckets: int
    batches: tuple[str, ...]  # the served batch dates after the flip, newest first
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"feature_set": self.feature_set, "dt": self.dt, "token": self.token, "entities": self.entities,
                "features": list(self.features), "buckets": self.buckets, "batches": list(self.batches),
                "duration_s": round(self.duration_s, 3)}


def entity_array(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """The entity column as the layout's key text (a string array); a one-line error for nulls,
    fractions or other types (repeated keys: :func:`check_unique`)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        raise FeatureStoreError(f"entity column {name!r} has {column.null_count} null key(s): every row needs a "
                                "key; nothing was published")
    check_entity_type(column.type, name)
    typ = column.type
    if pa.types.is_dictionary(typ):
        column, typ = column.cast(typ.value_type), typ.value_type
    if pa.types.is_floating(typ):
        whole = pc.and_(pc.is_finite(column), pc.equal(pc.floor(column), column))
        if not pc.all(whole).as_py():
            raise FeatureStoreError(f"entity column {name!r} holds fractional numbers: keys are strings or "
                                    "integers; nothing was published")
        try:
            column = pc.cast(column, pa.int64())
        except pa.ArrowInvalid:
            raise FeatureStoreError(f"entity column {name!r} holds numbers beyond 64-bit integers: keys are "
                                    "strings or integers; nothing was published") from None
    return pc.cast(column, pa.large_string())


def check_entity_type(typ: pa.DataType, name: str) -> None:
    """A one-line error for an entity column that is not integers, strings or (whole) floats."""
    value = typ.value_type if pa.types.is_dictionary(typ) else typ
    if not (pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_string(value)
            or pa.types.is_large_string(value)):
        raise FeatureStoreError(f"entity column {name!r} has type {typ}: keys are strings or integers")




def encode_rows(table: pa.Table, features: Sequence[str]) -> list[bytes]:
    """Each row's feature values as a JSON array, in ``features`` order (NaN and nulls as ``null``)."""
    return as_bytes(json_rows(table, features)).tolist()


def check_options(feature_set: str, table: pa.Table, *, entity: str, features: Sequence[str], dt: str,
                  keep_batches: int, ttl_seconds: int, additive: Sequence[str]) -> None:
    """Every check a publish makes before it touches the store (one-line :class:`FeatureStoreError`)."""
    check_set_name(feature_set, "feature set")
    try:
        if len(dt) != 10 or date.fromisoformat(dt).isoformat() != dt:
            raise ValueError
    except (TypeError, ValueError):
        raise FeatureStoreError(f"dt: expected a date YYYY-MM-DD, got {dt!r}") from None
    if not features:
        raise FeatureStoreError("features: a feature set publishes at least one feature column")
    twice = [f for i, f in enumerate(features) if f in features[:i]]
    if twice:
        raise FeatureStoreError(f"features: {twice[0]!r} is listed twice")
    if table.num_rows == 0:  # an empty batch would become current and every lookup would miss
        raise FeatureStoreError("the partition has no rows: nothing to publish")
    missing = [c for c in [entity, *features] if c not in table.column_names]
    if missing:
        raise FeatureStoreError(f"column {missing[0]!r} is not in the partition (it has: "
                                f"{', '.join(table.column_names)}); nothing was published")
    extra = [a for a in additive if a not in features]
    if extra:
        raise FeatureStoreError(f"additive feature {extra[0]!r} is not one of the published features")
    if isinstance(keep_batches, bool) or not isinstance(keep_batches, int) or keep_batches < 1:
        raise FeatureStoreError(f"keep_batches must be an integer of at least 1, got {keep_batches!r}")
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise FeatureStoreError(f"ttl must be a positive number of seconds, got {ttl_seconds!r}")


def publish_batch(url: str, feature_set: str, table: pa.Table, *, entity: str, features: Sequence[str], dt: str,
                  keep_batches: int = 2, ttl_seconds: int = 72 * 3600, additive: Sequence[str] = (),
                  timezone: str = "UTC", redis_client: Any = None) -> PublishResult:
    """Publish ``table``'s rows (keyed by column ``entity``) as batch ``dt`` of ``feature_set``.

    The batch becomes current only once every key is written (see the module docstring); a rerun of
    ``dt`` replaces that date's batch. Raises :class:`FeatureStoreError` before writing anything when
    an option or column is wrong, a key is null or repeated, or the store cannot be reached.
    """
    started = time.perf_counter()
    features = list(features)
    check_options(feature_set, table, entity=entity, features=features, dt=dt, keep_batches=keep_batches,
                  ttl_seconds=ttl_seconds, additive=additive)
    keys = entity_array(table.column(entity), entity)
    crc = key_crcs(keys)
    check_unique(keys, crc, entity)
    encoder = RowEncoder(table, features)  # checks every feature's type before anything is written
    buckets = bucket_count(len(keys))
    order, bounds = bucket_order(crc, buckets)
    r = redis_client if redis_client is not None else client(url, timeout=30)
    try:
        generation = _reserve(r, feature_set)
        token = token_of(dt, generation)
        _write_buckets(r, feature_set, token, _slabs(keys, encoder, order, bounds), ttl_seconds)
        info = BatchInfo(token=token, dt=dt, features=tuple(features), buckets=buckets, entities=len(keys),
                         entity=entity, additive=tuple(additive), timezone=timezone,
                         published_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
        kept, dropped = _flip(r, feature_set, generation, info, keep_batches)
        for old in dropped:
            _delete_batch(r, feature_set, old)
    except FeatureStoreError:
        raise
    except Exception as exc:  # redis.ConnectionError, TimeoutError, ResponseError (OOM, auth, ...)
        raise FeatureStoreError(f"feature store {redact(url)}: {type(exc).__name__}: "
                                f"{_one_line(exc)}; the previous batches still serve") from None
    return PublishResult(feature_set=feature_set, dt=dt, token=token, entities=len(keys),
                         features=tuple(features), buckets=buckets, batches=tuple(b.dt for b in kept),
                         duration_s=time.perf_counter() - started)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _reserve(r: Any, feature_set: str) -> int:
    """A generation no publish used before: above the pointer's and every earlier reservation."""
    import redis

    key = meta_key(feature_set)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                current, reserved = pipe.hmget(key, "generation", "reserved")
                generation = max(int(current or 0), int(reserved or 0)) + 1
                pipe.multi()
                pipe.hset(key, "reserved", generation)
                pipe.execute()
                return generation
            except redis.WatchError:  # another publish reserved at the same time: read again
                continue


def key_crcs(keys: pa.Array) -> np.ndarray:
    """zlib's CRC-32 of every key's UTF-8 text (the layout's bucket hash), a slice at a time."""
    crc32 = zlib.crc32
    out = np.empty(len(keys), dtype=np.uint32)
    for start in range(0, len(keys), SLAB_ROWS):
        part = as_bytes(keys.slice(start, SLAB_ROWS))
        out[start:start + len(part)] = np.fromiter((crc32(k) for k in part), dtype=np.uint32, count=len(part))
    return out


def check_unique(keys: pa.Array, crc: np.ndarray, name: str) -> None:
    """A one-line error for a repeated key: a repeat shares its twin's CRC, so only the keys whose CRC
    is not unique are compared."""
    ranked = np.sort(crc)
    shared = ranked[1:][ranked[1:] == ranked[:-1]]
    if not len(shared):
        return
    seen: set[str] = set()
    for i in np.flatnonzero(np.isin(crc, shared)).tolist():
        key = keys[i].as_py()
        if key in seen:
            raise FeatureStoreError(f"entity column {name!r} repeats key {key!r}: a batch holds one row per key; "
                                    "nothing was published")
        seen.add(key)


def bucket_order(crc: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(row order grouped by bucket, bucket boundaries in that order): bucket ``crc % buckets``."""
    of = crc % np.uint32(buckets)
    if buckets <= 1 << 16:
        of = of.astype(np.uint16)  # NumPy's stable sort of 16-bit keys is a radix sort
    order = np.argsort(of, kind="stable")
    bounds = np.zeros(buckets + 1, dtype=np.int64)
    np.cumsum(np.bincount(of, minlength=buckets), out=bounds[1:])
    return order, bounds


def _slabs(keys: pa.Array, encoder: RowEncoder, order: np.ndarray,
           bounds: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first bucket, [key, value, key, value, ...], bucket boundaries within)`` for
    :data:`SLAB_BUCKETS` buckets at a time: the rows are encoded and turned into ``bytes`` a slab
    at a time, so the Python objects in memory stay bounded whatever the batch's size."""
    buckets = len(bounds) - 1
    for first in range(0, buckets, SLAB_BUCKETS):
        last = min(first + SLAB_BUCKETS, buckets)
        rows = order[bounds[first]:bounds[last]]
        flat = np.empty(2 * len(rows), dtype=object)
        flat[0::2] = as_bytes(keys.take(pa.array(rows)))
        flat[1::2] = as_bytes(encoder.rows(rows))
        yield first, flat, bounds[first:last + 1] - bounds[first]


def _write_buckets(r: Any, feature_set: str, token: str, slabs: Iterable[tuple[int, np.ndarray, np.ndarray]],
                   ttl_seconds: int) -> None:
    """``HSET`` + ``EXPIRE`` of every bucket hash of batch ``token``, :data:`PIPELINE_BUCKETS` buckets
    a round trip (see :func:`_send`: the next slab is encoded while Redis works)."""

    def chunks() -> Iterator[list[tuple]]:
        for first, flat, bounds in slabs:
            for lo in range(0, len(bounds) - 1, PIPELINE_BUCKETS):
                commands: list[tuple] = []
                for b in range(lo, min(lo + PIPELINE_BUCKETS, len(bounds) - 1)):
                    start, stop = 2 * int(bounds[b]), 2 * int(bounds[b + 1])
                    if start == stop:
                        continue
                    key = bucket_key(feature_set, first + b, token)
                    commands.append(("HSET", key, *flat[start:stop].tolist()))
                    commands.append(("EXPIRE", key, ttl_seconds))
                yield commands

    _send(r, chunks())


def _send(r: Any, chunks: Iterable[list[tuple]]) -> None:
    """Send every chunk of commands on one connection, one chunk ahead: chunk *k+1* is prepared,
    packed and sent before chunk *k*'s replies are read, so Redis works meanwhile.

    The commands go through redis-py's connection (its ``pack_commands``: hiredis' C packer) and
    the replies through its parser; a Redis error reply (say OOM) is raised, and the connection,
    with replies left unread, is closed rather than returned to the pool."""
    pool = r.connection_pool
    conn = pool.get_connection()
    try:
        unread = 0
        for commands in chunks:
            if commands:
                conn.send_packed_command(conn.pack_commands(commands))
            _read_replies(conn, unread)
            unread = len(commands)
        _read_replies(conn, unread)
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def _read_replies(conn: Any, count: int) -> None:
    read = conn.read_response
    for _ in range(count):
        read()


def _next_batches(served: Sequence[BatchInfo], new: BatchInfo, keep: int) -> tuple[list[BatchInfo], list[BatchInfo]]:
    """(kept, dropped): the served batches after adding ``new`` (replacing its date), newest date first."""
    others = [b for b in served if b.dt != new.dt]
    ordered = sorted([new, *others], key=lambda b: b.dt, reverse=True)
    replaced = [b for b in served if b.dt == new.dt]
    return ordered[:keep], replaced + ordered[keep:]


def _flip(r: Any, feature_set: str, generation: int, new: BatchInfo,
          keep: int) -> tuple[list[BatchInfo], list[BatchInfo]]:
    """Move the pointer in one transaction: readers see the old batches or the new ones, never a mix.

    The pointer is read under ``WATCH``, so a publish of another date that flipped meanwhile is kept
    (the transaction is retried on the fresh pointer). Returns (kept, dropped)."""
    import redis

    key = meta_key(feature_set)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                meta = parse_meta(pipe.hgetall(key))
                kept, dropped = _next_batches(meta.batches if meta else (), new, keep)
                pipe.multi()
                fields = {"batches": orjson.dumps([b.token for b in kept]),
                          "generation": max(generation, (meta.generation if meta else 0) + 1)}
                if new in kept:
                    fields[f"batch:{new.token}"] = new.to_json()
                pipe.hset(key, mapping=fields)
                stale = [f"batch:{b.token}" for b in dropped if b.token != new.token]
                if stale:
                    pipe.hdel(key, *stale)
                pipe.execute()
                return kept, dropped
            except redis.WatchError:
                continue


def _delete_batch(r: Any, feature_set: str, batch: BatchInfo) -> None:
    """Delete a batch no longer served (``UNLINK``: Redis frees the memory in the background), one
    key a command, so that it works on Redis Cluster too (the buckets live in different slots)."""
    step = 4 * PIPELINE_BUCKETS
    _send(r, ([("UNLINK", bucket_key(feature_set, b, batch.token)) for b in range(lo, min(lo + step, batch.buckets))]
              for lo in range(0, batch.buckets, step)))
