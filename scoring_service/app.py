"""The application factory and the per-app service state (registry, metrics, audit log)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from scorebridge.prediction import Prediction
from scorebridge.schema import Columns
from scoring_service.audit import AuditLog, columns_for_log
from scoring_service.config import ServiceConfig
from scoring_service.errors import register_error_handlers
from scoring_service.features import FeatureBindings
from scoring_service.finite import scored
from scoring_service.metrics import Metrics
from scoring_service.registry import LoadedModel, ModelRegistry, ReloadReport, ReloadSignal

log = logging.getLogger("scoring_service")


class Call:
    """Bookkeeping for one prediction request, closed by :meth:`Service.record`."""

    __slots__ = ("protocol", "request_id", "start", "model", "rows", "unseen", "inputs", "outputs", "sampled",
                 "features")

    def __init__(self, protocol: str, request_id: str, sampled: bool) -> None:
        self.protocol = protocol
        self.request_id = request_id
        self.start = time.perf_counter()
        self.model: LoadedModel | None = None
        self.rows = 0
        self.unseen: dict[str, int] | None = None
        self.inputs: Columns | None = None
        self.outputs: Prediction | None = None
        self.sampled = sampled
        self.features: dict[str, Any] | None = None  # a keyed request's feature batches (the audit line's)

    def score(self, model: LoadedModel, columns: Columns) -> Prediction:
        """Score validated columns with ``model``, noting rows, unseen categories and samples."""
        prediction = scored(columns, model.predict)
        self.rows = len(prediction)
        if model.has_categories:
            self.unseen = model.schema.count_unseen(columns)
        if self.sampled:
            self.inputs, self.outputs = columns, prediction
        return prediction


class Service:
    """What the blueprints share: configuration, the model registry, metrics and the audit log."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self._refused_models: set[str] = set()
        self.audit = None
        if config.audit_log:
            self.audit = AuditLog(config.audit_log, config.audit_sample, max_bytes=config.audit_max_bytes,
                                  keep=config.audit_keep, on_drop=self.metrics.audit_dropped.inc)
        options: dict[str, Any] = {"threads": config.engine_threads}
        if config.engine == "native":
            options["trust_pickles"] = config.trust_pickles
        batch = None
        if config.engine in ("auto", "onnx", "xgboost") and config.batch_threads > config.engine_threads:
            # no spinning: idle pool threads would burn the core another worker is scoring on
            batch = ({**options, "threads": config.batch_threads, "spin": False}, config.batch_rows)
        self.registry = ModelRegistry(config.repo, config.engine, engine_options=options, batch=batch,
                                      max_versions=config.max_versions, on_reload=self._count_reload)
        self.signal = ReloadSignal(config.runtime_dir / "reload") if config.runtime_dir else None
        self.features: FeatureBindings | None = None
        if config.feature_store:
            self.features = FeatureBindings(config.feature_store, config.feature_sets, config.feature_timeout_ms,
                                            self.metrics)

    def _count_reload(self, report: ReloadReport) -> None:
        self.metrics.reloads.labels("error" if report.error else "ok").inc()
        refused = self.registry.snapshot.refused
        for name in set(refused) | self._refused_models:  # models whose refusals cleared go back to 0
            self.metrics.refused.labels(name).set(len(refused.get(name, ())))
        self._refused_models = set(refused)

    def start(self) -> None:
        """Load every model now (before the worker accepts requests), then keep polling.

        A worker that starts (a respawn, say) loads what is on disk now; it has its siblings rescan at
        once, so a change they have not polled yet does not leave two workers serving different versions.
        """
        self.registry.reload()
        if self.features is not None:  # read each set's pointer now (the store down: at a later request)
            for name in self.registry.snapshot.models:
                self.features.get(name).entity  # noqa: B018 - the property reads the pointer
        if self.signal is not None:
            self.signal.bump()
        self.registry.start(self.config.poll_interval, self.signal)

    def reload_all(self) -> dict[str, Any]:
        """Reload here, then have the server's other workers reload and wait for them."""
        report = self.registry.reload().to_dict()
        pending: list[int] = []
        if self.signal is not None:
            pending = self.signal.wait(self.signal.bump(), self.config.reload_wait)
        report["workers_pending"] = pending
        report["models"] = dict(self.registry.snapshot.latest)
        return report

    # -- per-request accounting ---------------------------------------------------------------
    def new_call(self, protocol: str, request_id: str | None) -> Call:
        """Start the bookkeeping of one prediction request; ``request_id`` is the caller's
        ``X-Request-ID``, kept when it is a sane correlation id."""
        if not request_id or len(request_id) > 128 or not request_id.isprintable():
            # a correlation id, not a secret: the module PRNG (reseeded in each forked worker) spares
            # uuid4's getrandom() system call, whose GIL hand-off showed in the c=8 profile
            request_id = f"{random.getrandbits(128):032x}"
        return Call(protocol, request_id, self.audit is not None and self.audit.sampled())

    def record(self, call: Call, status: int, error: str | None) -> None:
        """Metrics and the audit line of a finished prediction request, whatever its status."""
        seconds = time.perf_counter() - call.start
        model = call.model
        name, version = (model.name, model.version) if model is not None else ("", "")
        self.metrics.observe(name, version, call.protocol, status, seconds, call.rows, call.unseen, error)
        if self.audit is not None:
            entry: dict[str, Any] = {"request_id": call.request_id, "model": name or None, "version": version or None,
                                     "engine": model.engine_name if model is not None else self.config.engine,
                                     "protocol": call.protocol, "records": call.rows,
                                     "latency_ms": round(seconds * 1000.0, 3), "status": status}
            if error:
                entry["error"] = error
            if call.unseen:
                entry["unseen_categories"] = call.unseen
            if call.features is not None:
                entry["features"] = call.features
            if call.inputs is not None and call.outputs is not None:
                entry["inputs"] = columns_for_log(call.inputs)
                entry["outputs"] = columns_for_log(call.outputs.to_columns())
            self.audit.write(entry)

    # -- the Flask side of it (the v1 JSON fast path in ``fastpath.py`` calls the two above itself)
    def begin(self, protocol: str) -> Call:
        """:meth:`new_call` for the request Flask is handling."""
        call = self.new_call(protocol, request.headers.get("X-Request-ID"))
        g.call = call
        return call

    def finish(self, response: Response) -> Response:
        """``after_request`` of the prediction blueprints: :meth:`record`, and the ``X-Request-ID``."""
        call: Call | None = g.pop("call", None)
        if call is None:
            return response
        self.record(call, response.status_code, getattr(g, "error_code", None))
        response.headers["X-Request-ID"] = call.request_id
        return response


class ScoringFlask(Flask):
    """Flask, answering ``OPTIONS`` as an API does: 204 with ``Allow`` and no body, so no ``Content-Type``
    (Flask's default is a 200 claiming ``text/html`` for its empty body)."""

    def make_default_options_response(self) -> Response:
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(config: ServiceConfig | Mapping[str, Any] | None = None) -> Flask:
    """Build the scoring service for ``config`` (``None``: from ``SCOREBRIDGE_*`` environment variables).

    Models load here, so call it in each worker after the fork (gunicorn's default, no preload).
    """
    if config is None:
        config = ServiceConfig.from_env()
    elif not isinstance(config, ServiceConfig):
        config = ServiceConfig.from_mapping(config)
    from scoring_service.api import v1_blueprint, v2_blueprint
    from scoring_service.fastpath import JsonPredictFastPath
    from scoring_service.ops import admin_blueprint, ops_blueprint

    app = ScoringFlask("scoring_service")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    service = Service(config)
    app.extensions["scorebridge"] = service
    register_error_handlers(app)
    blueprints = [ops_blueprint(service)]
    if not config.console_only:
        blueprints += [v1_blueprint(service), v2_blueprint(service), admin_blueprint(service)]
    if config.ui:
        from web_console import console_blueprint

        blueprints.append(console_blueprint(service))
    for bp in blueprints:
        app.register_blueprint(bp)
    if not config.console_only:
        app.wsgi_app = JsonPredictFastPath(app, service)  # type: ignore[method-assign]
    service.start()
    return app
