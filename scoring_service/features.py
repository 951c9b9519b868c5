"""Scoring by key: the inputs a record leaves out are filled from the model's online feature set.

With ``--feature-store``, each model is bound to a feature set (``--feature-set MODEL=SET[:ENTITY]``,
else the set named as the model). A record that carries the set's entity key (the field the batch was
published with, e.g. ``customer_id``) may leave out any input: an absent input takes the value of the
current batch holding the entity, else the previous batch's; an input sent wins; ``null`` stays
missing. Every keyed record's prediction carries ``features``: ``{"batch", "fallback"}``, or ``{"batch":
null, "error": "timeout"|"unavailable"}`` when the store did not answer (the record is then scored with
the absent inputs missing: a store outage never fails a request).

Requests without the key do not come here: :meth:`FeatureBinding.entity_in` is one substring test
on the body, so the v1 JSON fast path (msgspec) stays as it was for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from online_features.layout import entity_text
from online_features.lookup import FeatureLookup, KeyResult
from online_features.store import redact
from scorebridge.schema import Columns, InputSchema
from scoring_service.errors import ApiError
from scoring_service.finite import check_range

if TYPE_CHECKING:
    from scoring_service.metrics import Metrics

log = logging.getLogger("scoring_service")
POINTER_RETRY_S = 1.0  # while a set's entity is unknown, re-read its pointer at most this often


class FeatureBinding:
    """One model's feature set: which field is the key, and the lookups that fill its records."""

    def __init__(self, model: str, target: str, lookup: FeatureLookup, metrics: Metrics) -> None:
        self.model = model
        self.feature_set, _, pinned = target.partition(":")
        self.pinned = pinned or None
        self.lookup = lookup
        self.metrics = metrics
        self._entity: str | None = self.pinned
        self._needle = b""
        self._published: tuple[Any, frozenset[str] | None] = (None, None)
        self._next_try = 0.0
        self._outcomes: dict[str, Any] = {}
        self._latency = metrics.feature_latency.labels(model)
        self._learn()

    @property
    def entity(self) -> str | None:
        """The key field's name: pinned, or from the set's pointer (re-read now and then until known)."""
        if self._entity is None and time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + POINTER_RETRY_S
            self.lookup.refresh(self.feature_set)
            self._learn()
        return self._entity

    def _learn(self) -> None:
        meta = self.lookup.meta(self.feature_set)
        if self.pinned is None and meta is not None and meta.current is not None:
            self._entity = meta.current.entity
        if self._entity is not None:
            self._needle = b'"' + self._entity.encode() + b'"'

    def entity_in(self, body: bytes) -> bool:
        """Whether a v1 JSON body may carry the key (its name appears in it): the one test a request
        without keys pays."""
        return self.entity is not None and self._needle in body

    def published(self) -> frozenset[str] | None:
        """The features the served batches hold (``None``: the pointer is not known); computed once per
        pointer, not per request."""
        meta = self.lookup.meta(self.feature_set)
        if meta is None or not meta.batches:
            return None
        if self._published[0] is not meta:
            self._published = (meta, frozenset(f for b in meta.batches for f in b.features))
        return self._published[1]

    def keys_of(self, values: list, records: list[int]) -> list[str]:
        """The layout's text of each record's key; a 400 naming the key field for a wrong type."""
        out = []
        for i, value in zip(records, values, strict=True):
            try:
                if value is None:
                    raise TypeError("null")
                out.append(entity_text(value))
            except TypeError:
                raise ApiError(400, "invalid_type", f"field {self.entity!r} is the entity key of feature set "
                               f"{self.feature_set!r}: expected a string or an integer, got {value!r} in record {i}",
                               field=self.entity, record=i) from None
        return out

    def fetch(self, keys: list[str]) -> list[KeyResult]:
        """Look ``keys`` up (one round trip), counting each key's outcome and the time it took."""
        start = time.perf_counter()
        results = self.lookup.lookup(self.feature_set, keys)
        self._latency.observe(time.perf_counter() - start)
        for r in results:
            outcome = r.outcome
            child = self._outcomes.get(outcome)
            if child is None:
                child = self._outcomes[outcome] = self.metrics.feature_lookups.labels(self.model, outcome)
            child.inc()
        self._learn()
        return results

    def fill(self, schema: InputSchema, records: list[dict], keyed: list[int],
             keys: list[str]) -> tuple[Columns, list[dict[str, Any] | None]]:
        """Fill the absent inputs of records ``keyed`` (whose keys are ``keys``) from the store; the
        validated columns and each record's ``features`` annotation (``None`` for a record without key)."""
        results = self.fetch(keys)
        published = self.published()
        notes: list[dict[str, Any] | None] = [None] * len(records)
        for i, result in zip(keyed, results, strict=True):
            rec = records[i]
            values = result.values
            for f in schema.fields:
                if f.name not in rec:
                    if published is not None and f.name not in published:
                        raise ApiError(400, "missing_field", f"record {i} lacks field {f.name!r}, which feature set "
                                       f"{self.feature_set!r} does not hold: send it in the record",
                                       field=f.name, record=i)
                    rec[f.name] = values.get(f.name)
            notes[i] = result.annotation()
        try:
            columns = schema.from_records(records)
        except RecursionError:
            raise ApiError(400, "invalid_request", "the request nests too deeply") from None
        return check_range(schema, columns), notes


def audit_summary(feature_set: str, notes: list[dict[str, Any] | None]) -> dict[str, Any]:
    """What the audit line records of a keyed request: the set, the batches used, the errors."""
    batches = sorted({n["batch"] for n in notes if n is not None and n.get("batch")})
    out: dict[str, Any] = {"set": feature_set, "batches": batches}
    missing = sum(1 for n in notes if n is not None and n.get("batch") is None and not n.get("error"))
    fallback = sum(1 for n in notes if n is not None and n.get("fallback"))
    errors = sorted({n["error"] for n in notes if n is not None and n.get("error")})
    if fallback:
        out["fallback"] = fallback
    if missing:
        out["missing"] = missing
    if errors:
        out["errors"] = errors
    return out


class FeatureBindings:
    """Every model's binding in one worker (built lazily: models come and go with reloads)."""

    def __init__(self, url: str, targets: Mapping[str, str], timeout_ms: float, metrics: Metrics) -> None:
        self.url = url
        self.targets = dict(targets)
        self.lookup = FeatureLookup(url, timeout_ms)
        self.metrics = metrics
        self._bindings: dict[str, FeatureBinding] = {}
        log.info("online features from %s (timeout %g ms)", redact(url), timeout_ms)

    def get(self, model: str) -> FeatureBinding:
        """The binding of model ``model`` (its set: ``--feature-set``, else the set of its name)."""
        binding = self._bindings.get(model)
        if binding is None:
            binding = self._bindings[model] = FeatureBinding(model, self.targets.get(model, model), self.lookup,
                                                             self.metrics)
        return binding

    def entities(self, models: Mapping[str, Any]) -> dict[str, str]:
        """Model name -> its entity key field, for the served ``models`` whose key is known."""
        out = {}
        for name in models:
            entity = self.get(name).entity
            if entity is not None:
                out[name] = entity
        return out

    def describe(self) -> dict[str, Any]:
        """For ``/readyz``: the timeout and each bound model's set and key. Not the store's URL: an answer
        without a token names no host, socket path or secret."""
        return {"timeout_ms": self.lookup.timeout_ms,
                "sets": {m: {"set": b.feature_set, "entity": b._entity} for m, b in self._bindings.items()}}

