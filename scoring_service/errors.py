"""The one place where exceptions become HTTP responses.

Every error answer has the body ``{"error": {"code", "message", "field", "record"}}``. Caller
mistakes are 4xx; only failures on our side (an engine that breaks, a bug) are 5xx, and those are
the "fallback-worthy" errors a caller should answer with its default safe value.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from scorebridge.errors import BundleError, EngineError, SchemaError, ScorebridgeError

log = logging.getLogger("scoring_service")

# werkzeug's HTTP errors (routing, body limit) get stable snake_case codes
_HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}


class ApiError(Exception):
    """An error answer the service raises deliberately: status, code, message, field, record."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 record: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.record = record


def to_api_error(exc: BaseException) -> ApiError:
    """Classify any exception as an :class:`ApiError` (status, code, message, field, record)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SchemaError):
        return ApiError(400, exc.code, str(exc), field=exc.field, record=exc.record)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = "request body too large: " + message
        return ApiError(status, _HTTP_CODES.get(status, "http_error"), message)
    if isinstance(exc, EngineError):
        return ApiError(500, "engine_error", str(exc))
    if isinstance(exc, BundleError):
        return ApiError(500, "bundle_error", str(exc))
    if isinstance(exc, ScorebridgeError):
        return ApiError(400, "invalid_input", str(exc))
    return ApiError(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")


def handle_exception(exc: BaseException) -> ApiError:
    """Classify ``exc`` (:func:`to_api_error`) and log it when the fault is ours (5xx)."""
    err = to_api_error(exc)
    if err.status >= 500:
        log.error("%s: %s", err.code, exc, exc_info=not isinstance(exc, ScorebridgeError))
    return err


def error_body(err: ApiError) -> bytes:
    """The JSON body of every error answer."""
    return orjson.dumps({"error": {"code": err.code, "message": err.message, "field": err.field,
                                   "record": err.record}})


def error_response(err: ApiError) -> Response:
    return Response(error_body(err), status=err.status, mimetype="application/json")


def register_error_handlers(app: Flask) -> None:
    """Route every exception raised while handling a request through :func:`handle_exception`."""

    def handle(exc: Exception) -> Response:
        err = handle_exception(exc)
        g.error_code = err.code  # for the request's metrics and audit line
        return error_response(err)

    app.register_error_handler(Exception, handle)
