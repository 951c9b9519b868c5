"""Connecting to the feature store and reading a feature set's pointer (``layout.meta_key``).

Shared by the publisher and the lookups: URL checks (a bad URL is a one-line error naming it, with
any password masked), the client, and the parsed pointer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from online_features.layout import SET_NAME_RE, meta_key
from scorebridge.errors import ScorebridgeError

SCHEMES = ("redis", "rediss", "unix")
ENV_URL = "SCOREBRIDGE_FEATURE_STORE"


class FeatureStoreError(ScorebridgeError):
    """The feature store is misconfigured, unreachable, or holds no such feature set."""


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: what logs and errors may show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if _port(parts) else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _port(parts: Any) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def check_url(url: str, where: str = "url") -> str:
    """``url`` if it is a Redis URL (``redis://``, ``rediss://``, ``unix://``); else a one-line error
    naming ``where`` and the URL (password masked)."""
    shown = redact(url) if isinstance(url, str) else repr(url)
    if not isinstance(url, str) or not url:
        raise FeatureStoreError(f"{where}: expected a Redis URL such as redis://127.0.0.1:6379/0, got {shown}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FeatureStoreError(f"{where}: invalid Redis URL {shown}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise FeatureStoreError(f"{where}: invalid Redis URL {shown}: the scheme must be one of "
                                f"{', '.join(s + '://' for s in SCHEMES)}")
    if parts.scheme != "unix" and not parts.hostname:
        raise FeatureStoreError(f"{where}: invalid Redis URL {shown}: no host")
    if port is not None and not 0 < port < 65536:
        raise FeatureStoreError(f"{where}: invalid Redis URL {shown}: bad port")
    db = parts.path.lstrip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise FeatureStoreError(f"{where}: invalid Redis URL {shown}: the path must be a database number")
    return url


def check_set_name(name: str, where: str = "name") -> str:
    """A feature set name: a letter or digit, then letters, digits, ``_``, ``.`` or ``-``."""
    if not isinstance(name, str) or not SET_NAME_RE.match(name):
        raise FeatureStoreError(f"{where}: invalid feature set name {name!r}: use letters, digits, '_', '.' or '-'")
    return name


def client(url: str, *, timeout: float | None = None, **options: Any):
    """A ``redis.Redis`` for ``url`` (checked first); ``timeout`` bounds connecting and each reply."""
    import redis

    check_url(url)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **options)


@dataclass(frozen=True)
class BatchInfo:
    """One served batch, as the pointer describes it."""

    token: str
    dt: str
    features: tuple[str, ...]
    buckets: int
    entities: int
    entity: str
    additive: tuple[str, ...]
    timezone: str
    published_at: str

    @classmethod
    def from_json(cls, token: str, raw: bytes | str) -> BatchInfo:
        doc = json.loads(raw)
        return cls(token=token, dt=doc["dt"], features=tuple(doc["features"]), buckets=int(doc["buckets"]),
                   entities=int(doc["entities"]), entity=doc["entity"], additive=tuple(doc.get("additive", ())),
                   timezone=doc.get("timezone", "UTC"), published_at=doc.get("published_at", ""))

    def to_json(self) -> str:
        return json.dumps({"dt": self.dt, "features": list(self.features), "buckets": self.buckets,
                           "entities": self.entities, "entity": self.entity, "additive": list(self.additive),
                           "timezone": self.timezone, "published_at": self.published_at})


@dataclass(frozen=True)
class SetMeta:
    """A feature set's pointer: the served batches, newest first, and the publish generation."""

    generation: int
    batches: tuple[BatchInfo, ...]

    @property
    def current(self) -> BatchInfo | None:
        return self.batches[0] if self.batches else None


def parse_meta(raw: dict) -> SetMeta | None:
    """The pointer from ``HGETALL meta_key(...)`` (bytes or str keys); ``None`` for an empty hash."""
    if not raw:
        return None
    doc = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    tokens = json.loads(doc.get("batches", "[]"))
    batches = tuple(BatchInfo.from_json(t, doc[f"batch:{t}"]) for t in tokens if f"batch:{t}" in doc)
    return SetMeta(generation=int(doc.get("generation", 0)), batches=batches)


def read_meta(redis_client: Any, feature_set: str) -> SetMeta | None:
    """The feature set's pointer, or ``None`` if nothing was ever published under that name."""
    return parse_meta(redis_client.hgetall(meta_key(feature_set)))
