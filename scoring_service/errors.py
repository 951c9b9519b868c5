"""The one place where exceptions become HTTP responses.

A v1 error answer has the body ``{"error": {"code", "message", "field", "record"}}``; an Open
Inference Protocol answer (any path under ``/v2``) has the protocol's ``{"error": "<message>"}``
with ``code``, ``field`` and ``record`` beside it, so Triton, KServe and MLServer clients read the
message as a string. Caller mistakes are 4xx; only failures on our side (an engine that breaks, a
bug) are 5xx, and those are the "fallback-worthy" errors a caller should answer with its default
safe value. gunicorn's own answers (a malformed request line, headers too large) use the same
bodies (:func:`gunicorn_error`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from scorebridge.errors import BundleError, EngineError, SchemaError, ScorebridgeError

log = logging.getLogger("scoring_service")

# werkzeug's and gunicorn's HTTP errors (routing, body limit, request line) get stable snake_case codes
_HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 411: "length_required",
               413: "body_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
               417: "expectation_failed", 431: "headers_too_large", 500: "internal_error",
               501: "not_implemented"}


class ApiError(Exception):
    """An error answer the service raises deliberately: status, code, message, field, record
    (and HTTP headers such an answer needs, e.g. ``Allow`` on a 405)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 record: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.record = record
        self.headers = headers or {}


def to_api_error(exc: BaseException) -> ApiError:
    """Classify any exception as an :class:`ApiError` (status, code, message, field, record)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SchemaError):
        return ApiError(400, exc.code, str(exc), field=exc.field, record=exc.record)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        headers = {}
        if status == 413:
            message = "request body too large: " + message
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            methods = sorted(exc.valid_methods)
            headers["Allow"] = ", ".join(methods)
            message = f"this path answers {', '.join(methods)}"
        return ApiError(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)
    if isinstance(exc, EngineError):
        return ApiError(500, "engine_error", str(exc))
    if isinstance(exc, BundleError):
        return ApiError(500, "bundle_error", "the model bundle could not be used; see the server log")
    if isinstance(exc, ScorebridgeError):
        return ApiError(400, "invalid_input", str(exc))
    if type(exc).__module__.startswith("gunicorn.http"):  # raised while the app reads the body
        if type(exc).__name__ == "NoMoreData":
            return ApiError(400, "incomplete_body", "the body ended before its framing said it would")
        return ApiError(400, "invalid_request", f"the request body's framing is broken: {exc}")
    if isinstance(exc, RecursionError):  # a structure deeper than any schema, built by a caller
        return ApiError(400, "invalid_request", "the request nests too deeply")
    return ApiError(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")


def handle_exception(exc: BaseException) -> ApiError:
    """Classify ``exc`` (:func:`to_api_error`) and log it when the fault is ours (5xx)."""
    err = to_api_error(exc)
    if err.status >= 500:
        log.error("%s: %s", err.code, exc, exc_info=not isinstance(exc, ScorebridgeError))
    return err


def is_v2(path: str) -> bool:
    """Whether ``path`` belongs to the Open Inference Protocol (its errors take the V2 body)."""
    return path == "/v2" or path.startswith("/v2/")


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # a lone surrogate echoed from the request: escape it rather than fail
        return json.dumps(obj, ensure_ascii=True).encode()


def error_body(err: ApiError, v2: bool = False) -> bytes:
    """The JSON body of an error answer (``v2``: the Open Inference Protocol's form)."""
    if v2:
        return _dumps({"error": err.message, "code": err.code, "field": err.field, "record": err.record})
    return _dumps({"error": {"code": err.code, "message": err.message, "field": err.field, "record": err.record}})


def error_headers(err: ApiError, body: bytes) -> list[tuple[str, str]]:
    """The headers of an error answer whose body is ``body``."""
    return [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *err.headers.items()]


def error_response(err: ApiError, v2: bool = False) -> Response:
    response = Response(error_body(err, v2), status=err.status, mimetype="application/json")
    response.headers.update(err.headers)
    return response


def gunicorn_error(status: int, reason: str, message: str, path: str | None = None) -> bytes:
    """A complete HTTP/1.1 answer for an error gunicorn finds before the app runs (bad request line,
    headers too large, ...): the service's JSON body instead of gunicorn's HTML page."""
    err = ApiError(status, _HTTP_CODES.get(status, "http_error"), message or reason)
    body = error_body(err, is_v2(path or ""))
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def register_error_handlers(app: Flask) -> None:
    """Route every exception raised while handling a request through :func:`handle_exception`."""

    def handle(exc: Exception) -> Response:
        err = handle_exception(exc)
        g.error_code = err.code  # for the request's metrics and audit line
        return error_response(err, is_v2(request.path))

    app.register_error_handler(Exception, handle)
