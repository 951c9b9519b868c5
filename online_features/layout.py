"""The Redis key layout of a published feature set: the one contract between the publisher (batch
jobs), the service's lookups and any other reader (docs/online-features.md documents it for them).

A feature set ``S`` holds up to ``keep_batches`` batches, newest first. Every batch is written under a
fresh *token* (``<dt>.<generation>``, say ``2026-11-30.3``), so a rerun of a date never overwrites
keys that readers may be using: it writes a new token and the pointer moves.

``sb:{S}:meta`` (a hash: the pointer)
    ``batches``: JSON list of the served batch tokens, newest first (current, previous, ...);
    ``generation``: a counter that grows at every publish (readers re-read the pointer when it moves);
    ``batch:<token>``: JSON of that batch: ``dt``, ``features`` (names, in value order), ``buckets``,
    ``entities``, ``entity``, ``published_at``, ``additive``, ``timezone``;
    ``reserved``: the highest generation a publish has taken for its token (readers ignore it): a
    publish that dies before its flip leaves it raised, so no later publish writes into its keys.
    The publisher changes ``batches`` and ``generation`` in one ``HSET``, after every key of the new
    batch is written: readers see the whole old batch or the whole new one.

``sb:{S|<b>}:<token>`` (a hash per bucket ``b``: the values)
    field: the entity key as text; value: a JSON array of the feature values, in ``features`` order
    (``null`` for missing). ``b = crc32(utf8(entity)) % buckets`` (zlib's CRC-32, as Java's
    ``java.util.zip.CRC32``). Buckets hold about :data:`BUCKET_ENTITIES` entities, which keeps each hash
    in Redis' compact listpack encoding. The hash tag ``{S|<b>}`` keeps every batch of one bucket in one
    Redis Cluster slot, while the buckets spread over the cluster.

``sb:inc:{S|<entity>}:<YYYY-MM-DD>`` (a hash per entity and day: "today" increments of additive features)
    field: a feature name; value: the day's increment, written by the caller's real-time system with
    ``HINCRBYFLOAT`` (and an ``EXPIRE``). The value scored is the batch value plus the increments of
    every day after the batch's ``dt`` up to today (in the feature set's time zone): a new batch makes
    older days' increments obsolete by their date alone, so nothing needs cleaning up at a flip.
"""

from __future__ import annotations

import numbers
import re
import zlib
from datetime import date, timedelta

PREFIX = "sb"
BUCKET_ENTITIES = 64  # entities per bucket hash: below hash-max-listpack-entries (128), compact in Redis
SET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# how many days of increments a reader adds at most (a batch older than this is stale anyway)
MAX_INCREMENT_DAYS = 31


def meta_key(feature_set: str) -> str:
    """The pointer hash of a feature set."""
    return f"{PREFIX}:{{{feature_set}}}:meta"


def bucket_count(entities: int) -> int:
    """Buckets for a batch of ``entities`` keys (at least one)."""
    return max(1, -(-entities // BUCKET_ENTITIES))


def bucket_of(entity: str, buckets: int) -> int:
    """The bucket an entity key (as text) falls in."""
    return zlib.crc32(entity.encode("utf-8")) % buckets


def bucket_key(feature_set: str, bucket: int, token: str) -> str:
    """The hash holding bucket ``bucket`` of batch ``token``."""
    return f"{PREFIX}:{{{feature_set}|{bucket}}}:{token}"


def increment_key(feature_set: str, entity: str, day: str) -> str:
    """The hash of one entity's increments on ``day`` (``YYYY-MM-DD``), for additive features."""
    return f"{PREFIX}:inc:{{{feature_set}|{entity}}}:{day}"


def token_of(dt: str, generation: int) -> str:
    """The token a batch of partition ``dt`` is written under at publish ``generation``."""
    return f"{dt}.{generation}"




def increment_days(batch_dt: str, today: date) -> list[str]:
    """The days whose increments add to a batch of ``batch_dt``: after it, up to ``today`` inclusive."""
    first = date.fromisoformat(batch_dt) + timedelta(days=1)
    days = (today - first).days + 1
    return [(first + timedelta(days=i)).isoformat() for i in range(max(0, min(days, MAX_INCREMENT_DAYS)))]


def entity_text(value: object) -> str:
    """An entity key as the layout stores it: integers in decimal, strings as they are.

    A float key that is a whole number (``42.0``, as pandas reads an integer column with gaps) is
    its integer's text, so a key published from such a column matches the caller's ``42``.
    """
    if isinstance(value, bool):
        raise TypeError("an entity key is a string or an integer, not a boolean")
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):  # NumPy's integers too
        return str(int(value))
    if isinstance(value, numbers.Real):
        if not float(value).is_integer():
            raise TypeError(f"an entity key is a string or an integer, got {value!r}")
        return str(int(value))
    raise TypeError(f"an entity key is a string or an integer, got {type(value).__name__}")
