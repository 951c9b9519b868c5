"""Prometheus metrics, correct under several gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is imported (the gunicorn runner
does it in the master), every worker writes its samples to memory-mapped files in that directory
and ``GET /metrics`` aggregates all workers. Without it (another WSGI server, one process), the
metrics live in the process.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# sub-millisecond buckets: one-record requests take well under a millisecond of service time
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0)

# a lookup is one loopback round trip (~0.1 ms) or a timeout (--feature-timeout-ms, 20 by default)
LOOKUP_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.5)


class Metrics:
    """The service's metrics, with labelled children cached so the hot path does no label lookups."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("scorebridge_requests", "Prediction requests by model, version, protocol "
                                "and HTTP status", ["model", "version", "protocol", "status"], registry=r)
        self.latency = Histogram("scorebridge_request_duration_seconds", "Prediction request service time "
                                 "by model, version and HTTP status", ["model", "version", "status"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter("scorebridge_rows_scored", "Records scored", ["model", "version"], registry=r)
        self.fallback = Counter("scorebridge_fallback_errors", "Server-side failures (5xx): the caller "
                                "should use its default safe value", ["model", "version", "code"], registry=r)
        self.unseen = Counter("scorebridge_unseen_categories", "Categorical values not seen in training, "
                              "scored as the model scores unknown categories", ["model", "version", "field"],
                              registry=r)
        self.reloads = Counter("scorebridge_model_reloads", "Registry reloads by outcome", ["outcome"],
                               registry=r)
        self.audit_dropped = Counter("scorebridge_audit_dropped", "Audit lines that could not be written (a full "
                                     "disk, a file size limit); scoring went on", registry=r)
        # every worker sees the same repository: report the live workers' maximum, not their sum
        self.refused = Gauge("scorebridge_bundles_refused", "Versions currently refused (sha256 mismatch or "
                             "load failure)", ["model"], registry=r, multiprocess_mode="livemax")
        self.feature_lookups = Counter("scorebridge_feature_lookups", "Entity keys looked up in the feature store, "
                                       "by model and outcome (hit, fallback: the previous batch, miss: in no "
                                       "batch, timeout, unavailable)", ["model", "outcome"], registry=r)
        self.feature_latency = Histogram("scorebridge_feature_lookup_duration_seconds", "Feature lookup time per "
                                         "keyed request (one round trip for all its records)", ["model"],
                                         buckets=LOOKUP_BUCKETS, registry=r)
        self._children: dict[tuple, tuple[Any, Any, Any]] = {}

    def observe(self, model: str, version: str, protocol: str, status: int, seconds: float, rows: int,
                unseen: dict[str, int] | None, error_code: str | None) -> None:
        """Record one prediction request."""
        key = (model, version, protocol, status)
        children = self._children.get(key)
        if children is None:
            s = str(status)
            children = (self.requests.labels(model, version, protocol, s), self.latency.labels(model, version, s),
                        self.rows.labels(model, version))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if rows:
            children[2].inc(rows)
        if unseen:
            for name, n in unseen.items():
                self.unseen.labels(model, version, name).inc(n)
        if status >= 500:
            self.fallback.labels(model, version, error_code or "internal_error").inc()

    def render(self) -> bytes:
        """The exposition text: all workers' samples in multiprocess mode, this process's otherwise."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        return generate_latest(self.registry)
