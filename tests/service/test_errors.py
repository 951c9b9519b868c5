"""Every bad request gets its 4xx and a JSON body naming what is wrong; none reaches a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from service.helpers import error_of, json_records, verification

JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def good(service_repo: Path) -> dict:
    """One valid credit-risk record."""
    _, inputs, _ = verification(service_repo, "credit_risk")
    return json_records(inputs.head(1))[0]


def _records(*records: dict) -> str:
    return json.dumps({"records": list(records)})


# (case id, path, body builder(good record), headers, status, code, field, record)
CASES = [
    ("malformed json", "/v1/models/credit_risk/predict", lambda g: '{"records": [', JSON, 400, "invalid_json",
     None, None),
    ("wrong content type", "/v1/models/credit_risk/predict", lambda g: _records(g), {"Content-Type": "text/plain"},
     415, "unsupported_media_type", None, None),
    ("no content type", "/v1/models/credit_risk/predict", lambda g: _records(g).encode(), {}, 415,
     "unsupported_media_type", None, None),
    ("unknown model", "/v1/models/nope/predict", lambda g: _records(g), JSON, 404, "model_not_found", None, None),
    ("unknown version", "/v1/models/credit_risk/versions/9/predict", lambda g: _records(g), JSON, 404,
     "version_not_found", None, None),
    ("missing field", "/v1/models/credit_risk/predict",
     lambda g: _records(g, {k: v for k, v in g.items() if k != "age"}), JSON, 400, "missing_field", "age", 1),
    ("string for a number", "/v1/models/credit_risk/predict",
     lambda g: _records(g, g, g | {"income": "lots"}), JSON, 400, "invalid_type", "income", 2),
    ("number for a string", "/v1/models/credit_risk/predict",
     lambda g: _records(g | {"region": 7}), JSON, 400, "invalid_type", "region", 0),
    ("bool for a number", "/v1/models/credit_risk/predict",
     lambda g: _records(g | {"age": True}), JSON, 400, "invalid_type", "age", 0),
    ("empty list", "/v1/models/credit_risk/predict", lambda g: _records(), JSON, 400, "empty", "records", None),
    ("records not a list", "/v1/models/credit_risk/predict", lambda g: json.dumps({"records": g}), JSON, 400,
     "invalid_request", "records", None),
    ("record not an object", "/v1/models/credit_risk/predict", lambda g: json.dumps({"records": [g, 3]}), JSON,
     400, "invalid_request", None, 1),
    ("body not an object", "/v1/models/credit_risk/predict", lambda g: json.dumps([g]), JSON, 400,
     "invalid_request", "records", None),
    ("too many records", "/v1/models/credit_risk/predict", lambda g: _records(*[g] * 501), JSON, 413,
     "too_many_records", "records", None),
    ("body too large", "/v1/models/credit_risk/predict",
     lambda g: json.dumps({"records": [g], "padding": "x" * (1 << 20)}), JSON, 413, "body_too_large", None, None),
    ("csv without records", "/v1/models/credit_risk/predict", lambda g: ",".join(g) + "\n", CSV, 400, "empty",
     "records", None),
    ("empty csv", "/v1/models/credit_risk/predict", lambda g: "", CSV, 400, "empty", "records", None),
    ("csv lacking a column", "/v1/models/credit_risk/predict",
     lambda g: "income,age\n1,2\n", CSV, 400, "missing_field", "debt_ratio", None),
    ("csv text in a number column", "/v1/models/credit_risk/predict",
     lambda g: ",".join(g) + "\n" + ",".join("oops" if k == "income" else "" for k in g) + "\n", CSV,
     400, "invalid_type", "income", 0),
    ("csv keep column absent", "/v1/models/credit_risk/predict?keep=customer_id",
     lambda g: ",".join(g) + "\n" + ",".join("" for _ in g) + "\n", CSV, 400, "missing_field", "customer_id", None),
    ("v2 missing input", "/v2/models/credit_risk/infer",
     lambda g: json.dumps({"inputs": [{"name": "income", "datatype": "FP64", "shape": [1], "data": [1.0]}]}), JSON,
     400, "missing_field", "debt_ratio", None),
    ("v2 wrong datatype", "/v2/models/credit_risk/infer",
     lambda g: json.dumps({"inputs": [{"name": k, "datatype": "FP64", "shape": [1], "data": [v]}
                                      for k, v in g.items()]}),
     JSON, 400, "invalid_type", "region", None),
    ("v2 bad shape", "/v2/models/credit_risk/infer",
     lambda g: json.dumps({"inputs": [{"name": k, "datatype": "BYTES" if isinstance(v, str) else "FP64",
                                       "shape": [2], "data": [v]} for k, v in g.items()]}),
     JSON, 400, "invalid_shape", "income", None),
    ("v2 not inputs", "/v2/models/credit_risk/infer", lambda g: json.dumps(g), JSON, 400, "invalid_request",
     "inputs", None),
    ("v2 unknown model", "/v2/models/nope/infer", lambda g: "{}", JSON, 404, "model_not_found", None, None),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "code", "field", "record"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_gets_its_4xx(service: str, http: requests.Session, good: dict, path: str, body, headers: dict,
                                  status: int, code: str, field: str | None, record: int | None) -> None:
    r = http.post(service + path, data=body(good), headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    error = error_of(r)
    assert (error["code"], error["field"], error["record"]) == (code, field, record), error
    assert error["message"]


def test_missing_value_in_a_non_nullable_field(service: str, http: requests.Session, good: dict) -> None:
    """credit_strict declares income not nullable: a null there is refused, not imputed."""
    records = [good, good | {"income": None}]
    r = http.post(f"{service}/v1/models/credit_strict/predict", json={"records": records})
    assert r.status_code == 400
    assert r.json()["error"] | {"message": ""} == {"code": "missing_value", "field": "income", "record": 1,
                                                   "message": ""}
    assert http.post(f"{service}/v1/models/credit_risk/predict", json={"records": records}).status_code == 200


def test_routing_errors_are_json(service: str, http: requests.Session) -> None:
    r = http.get(f"{service}/v1/models/credit_risk/predict")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = http.get(f"{service}/no/such/path")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.get(f"{service}/v1/models/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_admin_endpoints_are_off_without_a_token(service: str, http: requests.Session) -> None:
    r = http.post(f"{service}/v1/admin/reload", headers={"Authorization": "Bearer guess"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "admin_disabled"


def test_server_survives_bad_input(service: str, http: requests.Session, good: dict) -> None:
    """After the barrage above the workers still answer, and nothing was a 5xx."""
    for _ in range(3):
        assert http.post(f"{service}/v1/models/credit_risk/predict", json={"records": [good]}).status_code == 200
    metrics = http.get(f"{service}/metrics").text
    assert not [line for line in metrics.splitlines()
                if line.startswith("scorebridge_requests_total") and 'status="5' in line]
    assert "scorebridge_fallback_errors_total{" not in metrics
