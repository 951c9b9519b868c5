"""The generated clients over HTTP against the real scoring service, its 4xx errors, and the fallback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scoring_service.testing import free_port, running_service

from .support import JavaClient, assert_matches_native

pytestmark = pytest.mark.java

BUDGET_MS = 150
SLACK_MS = 20  # the bound: the default comes back within budget + 20 ms


@pytest.fixture(scope="module")
def service(sample_repo: Path) -> Iterator[str]:
    """``scorebridge serve`` on a free loopback port (ONNX engine, one worker)."""
    with running_service(sample_repo, engine="onnx", workers=1) as base_url:
        yield base_url


def test_http_matches_native_on_every_verification_row(java_clients: dict[str, JavaClient], service: str) -> None:
    for client in java_clients.values():
        preds = client.json_lines("http", service, str(client.rows_file))
        assert {p["engine"] for p in preds} == {"http:onnx"}
        assert {p["version"] for p in preds} == {client.bundle.version}
        assert_matches_native(preds, client.bundle)


def test_4xx_surfaces_code_and_field(java_clients: dict[str, JavaClient], service: str) -> None:
    client = java_clients["credit_risk"]
    first = client.manifest["inputs"][0]["name"]
    (err,) = client.json_lines("raw-error", service, json.dumps({first: "not a number"}))
    assert 400 <= err["status"] < 500, err
    assert err["field"] == first, err
    assert err["record"] == 0, err
    assert err["code"] and err["message"], err

    (err,) = client.json_lines("version-error", service, "999", str(client.rows_file))
    assert err["status"] == 404, err


class _SlowHandler(BaseHTTPRequestHandler):
    """Answers every request, but only after 2 s: a service that is up and too slow."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(2)
        body = b'{"predictions": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _assert_fallback_within_budget(client: JavaClient, url: str) -> dict:
    (report,) = client.json_lines("fallback", url, str(BUDGET_MS), "5", str(client.rows_file))
    assert report["defaults"] == 5 and report["fallbacks"] == 6, report  # 5 timed calls + the warm-up
    assert max(report["elapsed_ms"]) <= BUDGET_MS + SLACK_MS, report
    return report


def test_fallback_answers_within_budget_when_service_is_too_slow(java_clients: dict[str, JavaClient],
                                                                 slow_service: str) -> None:
    report = _assert_fallback_within_budget(java_clients["credit_risk"], slow_service)
    assert report["timeouts"] == 6, report
    assert min(report["elapsed_ms"]) >= BUDGET_MS - 1, report  # it did wait for the budget, no less


def test_fallback_answers_within_budget_when_service_is_stopped(java_clients: dict[str, JavaClient]) -> None:
    stopped = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused, then retries
    _assert_fallback_within_budget(java_clients["credit_risk"], stopped)


def test_quickstart_demo_scores_both_ways_side_by_side(sample_repo: Path, service: str) -> None:
    from scorebridge.java.demo import run

    out = run(sample_repo / "credit_risk", service)
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert len(rows) == 3, out
    for row in rows:
        half = (len(row) - 1) // 2
        http_side, pmml_side = row[1:1 + half], row[1 + half:]
        assert http_side[0] == pmml_side[0], out  # same label
        for a, b in zip(http_side[1:], pmml_side[1:], strict=True):
            assert abs(float(a.split("=")[1]) - float(b.split("=")[1])) <= 1e-5, out
    assert "CreditRiskInput.builder()" in out and "answered the default" in out
