"""Publishing one partition's rows as a batch of a feature set (see :mod:`online_features.layout`).

Every key of the new batch is written (pipelined ``HSET``s, each bucket with its expiry) under a
fresh token before the pointer moves in one ``MULTI``/``EXEC`` on the meta hash; only then are the
batches beyond ``keep_batches`` deleted. A publish interrupted anywhere (kill -9, a lost connection)
leaves the pointer as it was, so readers keep the previous batches; the orphaned keys expire with
their TTL, and a rerun writes a new token.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from online_features.layout import bucket_count, bucket_key, bucket_of, meta_key, token_of
from online_features.store import BatchInfo, FeatureStoreError, check_set_name, client, read_meta, redact

PIPELINE_BUCKETS = 256  # buckets per pipeline round trip (about 16k entities)


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


def entity_strings(column: pa.ChunkedArray | pa.Array, name: str) -> list[str]:
    """The entity column as the layout's key text; a one-line error for nulls, fractions or other types."""
    if column.null_count:
        raise FeatureStoreError(f"entity column {name!r} has {column.null_count} null key(s): every row needs a key")
    typ = column.type
    if pa.types.is_floating(typ):
        as_int = pc.cast(column, pa.int64(), safe=False)
        if not pc.all(pc.equal(pc.cast(as_int, typ), column)).as_py():
            raise FeatureStoreError(f"entity column {name!r} holds fractional numbers: keys are strings or integers")
        column = as_int
    elif not (pa.types.is_integer(typ) or pa.types.is_string(typ) or pa.types.is_large_string(typ)
              or pa.types.is_dictionary(typ)):
        raise FeatureStoreError(f"entity column {name!r} has type {typ}: keys are strings or integers")
    return pc.cast(column, pa.string()).to_pylist()


def encode_rows(table: pa.Table, features: Sequence[str]) -> list[bytes]:
    """Each row's feature values as a JSON array, in ``features`` order (NaN and nulls as ``null``)."""
    columns = [table.column(f).to_pylist() for f in features]
    dumps = orjson.dumps
    return [dumps(row) for row in zip(*columns)]


def publish_batch(url: str, feature_set: str, table: pa.Table, *, entity: str, features: Sequence[str], dt: str,
                  keep_batches: int = 2, ttl_seconds: int = 72 * 3600, additive: Sequence[str] = (),
                  timezone: str = "UTC", redis_client: Any = None) -> PublishResult:
    """Publish ``table``'s rows (keyed by column ``entity``) as batch ``dt`` of ``feature_set``.

    The batch becomes current only once every key is written (see the module docstring); a rerun of
    ``dt`` replaces that date's batch. Raises :class:`FeatureStoreError` before writing anything when
    a column is missing, a key is null or repeated, or the store cannot be reached.
    """
    started = time.perf_counter()
    check_set_name(feature_set, "feature set")
    features = list(features)
    missing = [c for c in [entity, *features] if c not in table.column_names]
    if missing:
        raise FeatureStoreError(f"column {missing[0]!r} is not in the partition (it has: "
                                f"{', '.join(table.column_names)}); nothing was published")
    extra = [a for a in additive if a not in features]
    if extra:
        raise FeatureStoreError(f"additive feature {extra[0]!r} is not one of the published features")
    if keep_batches < 1:
        raise FeatureStoreError(f"keep_batches must be at least 1, got {keep_batches}")
    keys = entity_strings(table.column(entity), entity)
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        dupe = next(k for k in keys if k in seen or seen.add(k))
        raise FeatureStoreError(f"entity column {entity!r} repeats key {dupe!r}: a batch holds one row per key; "
                                "nothing was published")
    values = encode_rows(table, features)
    buckets = bucket_count(len(keys))
    r = redis_client if redis_client is not None else client(url, timeout=30)
    try:
        meta = read_meta(r, feature_set)
        generation = (meta.generation if meta else 0) + 1
        token = token_of(dt, generation)
        _write_buckets(r, feature_set, token, keys, values, buckets, ttl_seconds)
        info = BatchInfo(token=token, dt=dt, features=tuple(features), buckets=buckets, entities=len(keys),
                         entity=entity, additive=tuple(additive), timezone=timezone,
                         published_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
        kept, dropped = _next_batches(meta.batches if meta else (), info, keep_batches)
        _flip(r, feature_set, generation, info, kept, dropped)
        for old in dropped:
            _delete_batch(r, feature_set, old)
    except FeatureStoreError:
        raise
    except Exception as exc:  # redis.ConnectionError, TimeoutError, ResponseError (OOM, auth, ...)
        raise FeatureStoreError(f"feature store {redact(url)}: {type(exc).__name__}: {exc}; the previous "
                                "batches still serve") from None
    return PublishResult(feature_set=feature_set, dt=dt, token=token, entities=len(keys), features=tuple(features),
                         buckets=buckets, batches=tuple(b.dt for b in kept),
                         duration_s=time.perf_counter() - started)


def _write_buckets(r: Any, feature_set: str, token: str, keys: list[str], values: list[bytes], buckets: int,
                   ttl_seconds: int) -> None:
    """Pipelined ``HSET`` + ``EXPIRE`` of every bucket hash of batch ``token``."""
    of = np.fromiter((bucket_of(k, buckets) for k in keys), dtype=np.int64, count=len(keys))
    order = np.argsort(of, kind="stable")
    bounds = np.searchsorted(of[order], np.arange(buckets + 1))
    pipe = r.pipeline(transaction=False)
    for b in range(buckets):
        rows = order[bounds[b]:bounds[b + 1]].tolist()
        if not rows:
            continue
        key = bucket_key(feature_set, b, token)
        pipe.hset(key, mapping={keys[i]: values[i] for i in rows})
        pipe.expire(key, ttl_seconds)
        if (b + 1) % PIPELINE_BUCKETS == 0:
            pipe.execute()
    pipe.execute()


def _next_batches(served: Sequence[BatchInfo], new: BatchInfo, keep: int) -> tuple[list[BatchInfo], list[BatchInfo]]:
    """(kept, dropped): the served batches after adding ``new`` (replacing its date), newest date first."""
    others = [b for b in served if b.dt != new.dt]
    ordered = sorted([new, *others], key=lambda b: b.dt, reverse=True)
    replaced = [b for b in served if b.dt == new.dt]
    return ordered[:keep], replaced + ordered[keep:]


def _flip(r: Any, feature_set: str, generation: int, new: BatchInfo, kept: list[BatchInfo],
          dropped: list[BatchInfo]) -> None:
    """Move the pointer in one transaction: readers see the old batches or the new ones, never a mix."""
    key = meta_key(feature_set)
    pipe = r.pipeline(transaction=True)
    pipe.hset(key, mapping={"batches": orjson.dumps([b.token for b in kept]), "generation": generation,
                            f"batch:{new.token}": new.to_json()})
    stale = [f"batch:{b.token}" for b in dropped if b.token != new.token]
    if stale:
        pipe.hdel(key, *stale)
    pipe.execute()


def _delete_batch(r: Any, feature_set: str, batch: BatchInfo) -> None:
    """Delete a batch no longer served (``UNLINK``: Redis frees the memory in the background)."""
    pipe = r.pipeline(transaction=False)
    for b in range(batch.buckets):
        pipe.unlink(bucket_key(feature_set, b, batch.token))
        if (b + 1) % 1024 == 0:
            pipe.execute()
    pipe.execute()
