"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document, and admin reload."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request

from scoring_service.codec import json_response
from scoring_service.errors import ApiError
from scoring_service.openapi import openapi_document

if TYPE_CHECKING:
    from scoring_service.app import Service


def ops_blueprint(service: Service) -> Blueprint:
    """``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json``."""
    bp = Blueprint("ops", __name__)
    registry = service.registry
    spec = None

    @bp.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok"})

    @bp.get("/readyz")
    def readyz() -> Response:
        snap = registry.snapshot
        ready = registry.is_ready()
        body = {"status": "ready" if ready else "not_ready", "models": snap.latest, "refused": snap.refused}
        if service.features is not None:  # the store's state does not make the service unready: full records score
            body["feature_store"] = service.features.describe()
        return json_response(body, 200 if ready else 503)

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(service.metrics.render(), mimetype=None, content_type=service.metrics.content_type)

    @bp.get("/openapi.json")
    def openapi() -> Response:
        nonlocal spec
        snap = service.registry.snapshot
        entities = service.features.entities(snap.models) if service.features is not None else {}
        if spec is None or spec[0] is not snap or spec[2] != entities:  # rebuilt on a reload, or a key learnt
            spec = (snap, openapi_document(snap.models, service.config.max_records,
                                           admin=service.config.admin_token is not None, latest=snap.latest,
                                           entities=entities), entities)
        return json_response(spec[1])

    return bp


def admin_blueprint(service: Service) -> Blueprint:
    """``POST /v1/admin/reload``: needs ``Authorization: Bearer <SCOREBRIDGE_ADMIN_TOKEN>``; off without a token."""
    bp = Blueprint("admin", __name__, url_prefix="/v1/admin")
    token = service.config.admin_token

    @bp.before_request
    def authorise() -> None:
        if token is None:
            raise ApiError(404, "admin_disabled",
                           "admin endpoints are off: start the service with SCOREBRIDGE_ADMIN_TOKEN set")
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <admin token>'")
        if not hmac.compare_digest(header[7:].encode(), token.encode()):
            raise ApiError(403, "forbidden", "the admin token does not match")

    @bp.post("/reload")
    def reload() -> Response:
        return json_response(service.reload_all())

    return bp
