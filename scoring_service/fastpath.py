"""The v1 JSON predict request, answered below Flask.

Flask's request machinery (request and app contexts, routing, the ``Response`` object, the
``after_request`` hook) costs about 0.2 ms of CPU per request on the reference machine: more than
ONNX Runtime takes to score one record, and more than half of what a one-record request costs the
worker in-process (``docs/serving-performance.md``). The most frequent call, ``POST
/v1/models/{name}[/versions/{v}]/predict`` with a JSON body, therefore runs as WSGI middleware around
the Flask app (``app.wsgi_app``, as Flask's docs wrap middleware). It shares everything but the
routing with the Flask view: the scoring and answer (:func:`scoring_service.api.v1_json_answer`),
the bookkeeping (:meth:`Service.new_call`, :meth:`Service.record`) and the error classification
(:func:`scoring_service.errors.handle_exception`), so both give the same status, headers and bytes.
Every other request, and any such request it does not take as it stands (a body too large or
without ``Content-Length``, a compressed body, a non-ASCII path), goes to Flask unchanged. A body
shorter than its ``Content-Length`` is answered here, as the view answers it (400
``incomplete_body``). So does every request once the app has request hooks or signal receivers
beyond the service's own (an ``@app.before_request`` that checks credentials, say): those must run,
and only Flask runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask.signals import got_request_exception, request_finished, request_started
from werkzeug.http import HTTP_STATUS_CODES

from scoring_service.api import v1_json_answer
from scoring_service.codec import JSON_TYPES, complete_body
from scoring_service.errors import error_body, handle_exception

if TYPE_CHECKING:
    from flask import Flask

    from scoring_service.app import Service

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_hooks(app: Flask) -> int:
    """How many functions Flask would call around a request: hooks, URL processors, signal receivers."""
    per_blueprint = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                     app.url_value_preprocessors)
    return (sum(len(funcs) for registry in per_blueprint for funcs in registry.values())
            + len(app.teardown_appcontext_funcs)
            + len(request_started.receivers) + len(request_finished.receivers)
            + len(got_request_exception.receivers))


def predict_route(path: str) -> tuple[str, str | None] | None:
    """``(name, version)`` when ``path`` is a v1 predict URL (``version`` ``None``: the latest)."""
    if not path.startswith("/v1/models/") or not path.endswith("/predict") or not path.isascii():
        return None
    parts = path.split("/")
    if len(parts) == 5 and parts[3]:
        return parts[3], None
    if len(parts) == 7 and parts[4] == "versions" and parts[3] and parts[5]:
        return parts[3], parts[5]
    return None


class JsonPredictFastPath:
    """WSGI middleware answering v1 JSON predict requests without Flask; the rest goes to ``wsgi_app``."""

    def __init__(self, app: Flask, service: Service) -> None:
        self.app = app
        self.wsgi_app: WSGIApp = app.wsgi_app
        self.service = service
        self.own_hooks = request_hooks(app)  # the service's (after_request bookkeeping), counted at build

    def _content_length(self, environ: dict[str, Any]) -> int | None:
        """The body's declared length, if there is one within the app's body limit (Flask answers the rest)."""
        text = environ.get("CONTENT_LENGTH", "")
        if not (text.isascii() and text.isdigit()):
            return None
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        return int(text) if limit is None or int(text) <= limit else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = predict_route(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if route is not None and request_hooks(self.app) != self.own_hooks:
            route = None  # somebody else's hooks must run: Flask's way
        length = None if route is None else self._content_length(environ)
        if (length is None or "HTTP_CONTENT_ENCODING" in environ  # a compressed body: Flask's view inflates it
                or environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() not in JSON_TYPES):
            return self.wsgi_app(environ, start_response)
        service = self.service
        call = service.new_call("v1", environ.get("HTTP_X_REQUEST_ID"))
        try:
            body = environ["wsgi.input"].read(length)
        except OSError:  # gunicorn's NoMoreData, a socket timeout: the body is incomplete
            body = b""
        error, headers = None, [("Content-Type", "application/json")]
        try:
            call.model = service.registry.snapshot.get(*route)  # first, as the view does (the audit line names it)
            complete_body(body, length)
            answer, status = v1_json_answer(call, call.model, body, service.config.max_records, service.features), 200
        except Exception as exc:
            err = handle_exception(exc)
            answer, status, error = error_body(err), err.status, err.code
            headers += err.headers.items()
        service.record(call, status, error)
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}",
                       [*headers, ("Content-Length", str(len(answer))), ("X-Request-ID", call.request_id)])
        return [answer]
