"""The v1 JSON predict fast path answers exactly as the Flask view does, and leaves the rest to Flask."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import Flask, request, request_started
from werkzeug.test import Client

from scoring_service import ServiceConfig, create_app
from scoring_service.fastpath import JsonPredictFastPath, predict_route
from service.helpers import json_records, verification

RID = {"X-Request-ID": "fast-path-test"}


@pytest.mark.parametrize(("path", "route"), [
    ("/v1/models/credit_risk/predict", ("credit_risk", None)),
    ("/v1/models/credit_risk/versions/1/predict", ("credit_risk", "1")),
    ("/v1/models/credit_risk/versions/latest/predict", ("credit_risk", "latest")),
    ("/v1/models//predict", None),
    ("/v1/models/credit_risk/predict/", None),
    ("/v1/models/credit_risk/versions//predict", None),
    ("/v1/models/credit_risk/other/1/predict", None),
    ("/v1/models/a/b/predict", None),
    ("/v2/models/credit_risk/infer", None),
    ("/v1/models/crédit/predict", None),  # non-ASCII: werkzeug's decoding applies, so Flask takes it
])
def test_predict_route(path: str, route: tuple | None) -> None:
    assert predict_route(path) == route


@pytest.fixture(scope="module")
def app(service_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    audit = tmp_path_factory.mktemp("fastpath") / "audit.jsonl"
    app = create_app(ServiceConfig(repo=service_repo, poll_interval=0, audit_log=str(audit), audit_sample=1.0,
                                   max_records=5))
    app.config["audit_path"] = audit
    yield app
    app.extensions["scorebridge"].registry.stop()


@pytest.fixture(scope="module")
def good(service_repo: Path) -> list[dict]:
    _, inputs, _ = verification(service_repo, "credit_risk")
    return json_records(inputs.head(4))


def _records(*records: dict) -> bytes:
    return json.dumps({"records": list(records)}).encode()


CASES = {
    "records with nulls": ("credit_risk", lambda g: _records(*g)),
    "NaN token and an unseen category": (  # NaN is not JSON: the validating path reads it as missing
        "credit_risk", lambda g: _records(g[0] | {"income": "NAN", "region": "atlantis"}).replace(b'"NAN"', b"NaN")),
    "pinned version": ("credit_risk/versions/1", lambda g: _records(g[1])),
    "latest by name": ("credit_risk/versions/latest", lambda g: _records(g[1])),
    "string for a number": ("credit_risk", lambda g: _records(g[0], g[1] | {"income": "lots"})),
    "missing field": ("credit_risk", lambda g: _records({k: v for k, v in g[0].items() if k != "age"})),
    "not nullable": ("credit_strict", lambda g: _records(g[0] | {"income": None})),
    "empty list": ("credit_risk", lambda g: _records()),
    "too many records": ("credit_risk", lambda g: _records(*[g[0]] * 6)),
    "malformed json": ("credit_risk", lambda g: b'{"records": ['),
    "empty body": ("credit_risk", lambda g: b""),
    "unknown model": ("nope", lambda g: _records(g[0])),
    "unknown version": ("credit_risk/versions/9", lambda g: _records(g[0])),
}


def _audit_lines(app: Flask) -> list[dict]:
    lines = [json.loads(line) for line in app.config["audit_path"].read_text().splitlines()]
    for line in lines:  # the time and the service time differ from call to call
        del line["time"], line["latency_ms"]
    return lines


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_same_answer_and_audit_line_as_the_flask_view(app: Flask, good: list[dict], case: str,
                                                      content_type: str) -> None:
    assert isinstance(app.wsgi_app, JsonPredictFastPath)
    model, body = CASES[case]
    path, data = f"/v1/models/{model}/predict", body(good)
    headers = {**RID, "Content-Type": content_type}
    answers = []
    for wsgi in (app.wsgi_app, app.wsgi_app.wsgi_app):  # the fast path, then Flask's own
        before = len(_audit_lines(app))
        r = Client(wsgi).post(path, data=data, headers=headers)
        audit = _audit_lines(app)[before:]
        assert len(audit) == 1, audit  # one line per request, whichever path answered
        answers.append((r.status_code, sorted(r.headers.items()), r.get_data(), audit[0]))
    assert answers[0] == answers[1]
    status, _, text, audit = answers[0]
    assert audit["status"] == status and audit["request_id"] == RID["X-Request-ID"]
    assert (status == 200) == ("predictions" in json.loads(text)), text


def test_generated_request_ids(app: Flask, good: list[dict]) -> None:
    """Without a usable X-Request-ID the fast path makes one, as the Flask view does."""
    ids = set()
    for headers in ({}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": "tab\tid"}):
        r = Client(app).post("/v1/models/credit_risk/predict", data=_records(good[0]),
                             headers={**headers, "Content-Type": "application/json"})
        rid = r.headers["X-Request-ID"]
        assert r.status_code == 200 and len(rid) == 32 and int(rid, 16) >= 0
        assert json.loads(r.get_data())["request_id"] == rid
        ids.add(rid)
    assert len(ids) == 3


def test_chunked_body_goes_through_flask_with_the_same_answer(service: str, good: list[dict]) -> None:
    """A body without Content-Length (chunked) is left to Flask, under gunicorn, and scores the same."""
    url = f"{service}/v1/models/credit_risk/predict"
    headers = {**RID, "Content-Type": "application/json"}
    body = _records(*good)
    with requests.Session() as http:
        plain = http.post(url, data=body, headers=headers)
        chunked = http.post(url, data=iter([body[:100], body[100:]]), headers=headers)
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    assert plain.status_code == chunked.status_code == 200
    assert plain.content == chunked.content


def test_truncated_body_is_answered_as_flask_answers_it(app: Flask, good: list[dict]) -> None:
    """A body shorter than its Content-Length (the client went away) is a 400 ``incomplete_body`` from
    both paths, never scored; logged once."""
    body = _records(good[0])
    answers = []
    for wsgi in (app.wsgi_app, app.wsgi_app.wsgi_app):
        before = len(_audit_lines(app))
        # as under gunicorn: the declared length, and a stream that simply ends early
        environ_overrides = {"wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(body))}
        r = Client(wsgi).post("/v1/models/credit_risk/predict", input_stream=io.BytesIO(body[:-10]),
                              headers={**RID, "Content-Type": "application/json", "Content-Length": str(len(body))},
                              environ_overrides=environ_overrides)
        answers.append((r.status_code, r.get_data(), _audit_lines(app)[before:]))
    assert answers[0] == answers[1]
    status, text, audit = answers[0]
    assert status == 400 and json.loads(text)["error"]["code"] == "incomplete_body", text
    assert [line["status"] for line in audit] == [400]


def test_body_limit_follows_the_app_config(app: Flask, good: list[dict]) -> None:
    body = _records(*good)
    saved = app.config["MAX_CONTENT_LENGTH"]
    try:
        for limit, status in ((len(body) - 1, 413), (len(body), 200), (None, 200)):
            app.config["MAX_CONTENT_LENGTH"] = limit
            r = Client(app).post("/v1/models/credit_risk/predict", data=body,
                                 headers={"Content-Type": "application/json"})
            assert r.status_code == status, (limit, r.get_data())
    finally:
        app.config["MAX_CONTENT_LENGTH"] = saved


@contextmanager
def fresh_app(repo: Path) -> Iterator[Flask]:
    """An app no request has reached yet, so hooks can still be added."""
    app = create_app(ServiceConfig(repo=repo, poll_interval=0, audit_log=None))
    try:
        yield app
    finally:
        app.extensions["scorebridge"].registry.stop()


PREDICT, JSON_TYPE = "/v1/models/credit_risk/predict", {"Content-Type": "application/json"}


def test_a_request_hook_of_others_sends_predicts_through_flask(service_repo: Path, good: list[dict]) -> None:
    """An app extended with its own ``before_request`` (here: a credentials check) gets it run for
    every predict request."""
    with fresh_app(service_repo) as app:
        @app.before_request
        def require_key() -> tuple[str, int] | None:
            return None if request.headers.get("X-Key") == "k" else ("no key", 401)

        r = Client(app).post(PREDICT, data=_records(good[0]), headers=JSON_TYPE)
        assert r.status_code == 401 and r.get_data() == b"no key"
        r = Client(app).post(PREDICT, data=_records(good[0]), headers={**JSON_TYPE, "X-Key": "k"})
        assert r.status_code == 200 and len(json.loads(r.get_data())["predictions"]) == 1


def test_a_signal_receiver_sends_predicts_through_flask(service_repo: Path, good: list[dict]) -> None:
    with fresh_app(service_repo) as app:
        seen: list[str] = []

        def started(sender: Flask, **extra: object) -> None:
            seen.append(request.path)

        assert Client(app).post(PREDICT, data=_records(good[0]), headers=JSON_TYPE).status_code == 200
        with request_started.connected_to(started, app):
            assert Client(app).post(PREDICT, data=_records(good[0]), headers=JSON_TYPE).status_code == 200
        assert seen == [PREDICT]
