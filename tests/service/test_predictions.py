"""Predictions over HTTP equal the native pipeline's, for every sample model and every protocol."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import requests

from service.helpers import assert_matches_native, json_records, predictions_to_columns, verification
from service.helpers import metric_sum as _metric


def _names(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(params=["credit_risk", "wine_class", "diabetes_progression"])
def model(request: pytest.FixtureRequest, service_repo: Path) -> str:
    if not (service_repo / request.param).is_dir():
        pytest.skip(f"sample model {request.param} not in the repository")
    return request.param


def test_json_predictions_match_native_including_missing_and_unseen(
        service: str, service_repo: Path, http: requests.Session, model: str) -> None:
    bundle, inputs, native = verification(service_repo, model)
    # the verification set holds NaN rows, missing categories and unseen categories; sent whole it is
    # scored by the single-threaded session, sent twice over (> --batch-rows 256) by the batch session
    for copies in (1, 2):
        records = json_records(inputs) * copies
        r = http.post(f"{service}/v1/models/{model}/predict", json={"records": records})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["model"], body["version"], body["engine"]) == (model, "1", "onnx")
        assert body["request_id"] == r.headers["X-Request-ID"]
        assert len(body["predictions"]) == len(records)
        got = predictions_to_columns(bundle, body["predictions"])
        assert_matches_native(bundle, pd.concat([native] * copies), got, "onnx")


def test_request_ids_are_distinct_across_workers_and_echo_the_callers(service: str, service_repo: Path) -> None:
    _, inputs, _ = verification(service_repo, "credit_risk")
    payload = {"records": json_records(inputs.head(1))}
    # fresh connections, so both workers answer (each seeds its own generator after the fork)
    ids = [requests.post(f"{service}/v1/models/credit_risk/predict", json=payload).json()["request_id"]
           for _ in range(24)]
    assert len(set(ids)) == 24 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    r = requests.post(f"{service}/v1/models/credit_risk/predict", json=payload, headers={"X-Request-ID": "abc-1"})
    assert r.json()["request_id"] == "abc-1" == r.headers["X-Request-ID"]


def test_pinned_version_and_latest_agree(service: str, service_repo: Path, http: requests.Session) -> None:
    _, inputs, _ = verification(service_repo, "credit_risk")
    payload = {"records": json_records(inputs.head(5))}
    latest = http.post(f"{service}/v1/models/credit_risk/predict", json=payload).json()
    pinned = http.post(f"{service}/v1/models/credit_risk/versions/1/predict", json=payload).json()
    also = http.post(f"{service}/v1/models/credit_risk/versions/latest/predict", json=payload).json()
    assert latest["predictions"] == pinned["predictions"] == also["predictions"]
    assert pinned["version"] == "1"


def test_null_and_nan_tokens_mean_missing(service: str, service_repo: Path, http: requests.Session) -> None:
    """`NaN` (non-standard JSON some clients send) scores exactly like `null`, in numeric and string fields."""
    _, inputs, _ = verification(service_repo, "credit_risk")
    row = json_records(inputs.head(1))[0]
    with_null = {**row, "income": None, "region": None}
    r_null = http.post(f"{service}/v1/models/credit_risk/predict", json={"records": [with_null]})
    text = json.dumps({"records": [{**row, "income": float("nan"), "region": float("nan")}]})
    assert "NaN" in text
    r_nan = http.post(f"{service}/v1/models/credit_risk/predict", data=text,
                      headers={"Content-Type": "application/json"})
    assert r_null.status_code == r_nan.status_code == 200, r_nan.text
    assert r_null.json()["predictions"] == r_nan.json()["predictions"]
    base = http.post(f"{service}/v1/models/credit_risk/predict", json={"records": json_records(inputs.head(1))})
    assert base.json()["predictions"] != r_null.json()["predictions"]  # missingness changes the score


def test_csv_round_trip_keeps_columns(service: str, service_repo: Path, http: requests.Session, model: str) -> None:
    bundle, inputs, native = verification(service_repo, model)
    frame = inputs.copy()
    frame.insert(0, "customer_id", [f"{i:05d}" for i in range(len(frame))])  # leading zeros must survive
    r = http.post(f"{service}/v1/models/{model}/predict?keep=customer_id", data=frame.to_csv(index=False),
                  headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    out = pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str})
    assert list(out.columns) == ["customer_id", *bundle.output_columns]
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    assert_matches_native(bundle, native, {c: out[c].tolist() for c in bundle.output_columns}, "onnx")


def test_v2_infer_round_trip(service: str, service_repo: Path, http: requests.Session, model: str) -> None:
    bundle, inputs, native = verification(service_repo, model)
    meta = http.get(f"{service}/v2/models/{model}").json()
    assert [i["name"] for i in meta["inputs"]] == bundle.schema.names
    assert [o["name"] for o in meta["outputs"]] == bundle.output_columns
    records = json_records(inputs)
    tensors = [{"name": i["name"], "datatype": i["datatype"], "shape": [len(records), 1],
                "data": [[rec[i["name"]]] for rec in records]} for i in meta["inputs"]]
    r = http.post(f"{service}/v2/models/{model}/infer", json={"id": "req-42", "inputs": tensors})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (model, "1", "req-42")
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert list(outputs) == bundle.output_columns
    assert all(o["shape"] == [len(records)] for o in body["outputs"])
    assert_matches_native(bundle, native, outputs, "onnx")
    # asking for one output returns just that one
    one = http.post(f"{service}/v2/models/{model}/versions/1/infer",
                    json={"inputs": tensors, "outputs": [{"name": bundle.output_columns[-1]}]}).json()
    assert [o["name"] for o in one["outputs"]] == [bundle.output_columns[-1]]
    assert one["outputs"][0]["data"] == outputs[bundle.output_columns[-1]]


def test_v2_health_and_metadata(service: str, http: requests.Session) -> None:
    assert http.get(f"{service}/v2/health/live").json() == {"live": True}
    assert http.get(f"{service}/v2/health/ready").json() == {"ready": True}
    assert http.get(f"{service}/v2/models/credit_risk/ready").json()["ready"] is True
    meta = http.get(f"{service}/v2/models/credit_risk").json()
    assert meta["versions"] == ["1"] and meta["platform"] == "scorebridge-onnx"
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["region"] == "BYTES"
    assert http.get(f"{service}/v2").json()["name"] == "scorebridge"


def test_model_listing_and_metadata(service: str, service_repo: Path, http: requests.Session) -> None:
    listed = http.get(f"{service}/v1/models").json()["models"]
    assert [m["name"] for m in listed] == _names(service_repo)
    assert all(m["versions"] == ["1"] and m["latest"] == "1" for m in listed)
    bundle, _, _ = verification(service_repo, "credit_risk")
    version = http.get(f"{service}/v1/models/credit_risk/versions/1").json()
    assert version["inputs"] == bundle.manifest["inputs"]
    assert version["classes"] == bundle.classes
    assert version["fidelity"]["onnx"]["passed"] is True
    assert http.get(f"{service}/v1/models/credit_risk").json()["latest_version"] == version


def test_health_ready_and_openapi(service: str, http: requests.Session) -> None:
    assert http.get(f"{service}/healthz").json() == {"status": "ok"}
    ready = http.get(f"{service}/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["credit_risk"] == "1"
    spec = http.get(f"{service}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/models/{name}/predict", "/v2/models/{name}/infer", "/metrics", "/v2/"):
        assert path in spec["paths"]
    assert "/v1/admin/reload" not in spec["paths"]  # admin endpoints are off on this server


def test_openapi_types_each_models_records_and_predictions(service: str, http: requests.Session,
                                                           service_repo: Path) -> None:
    from jsonschema import Draft202012Validator

    spec = http.get(f"{service}/openapi.json").json()
    op = spec["paths"]["/v1/models/credit_risk/predict"]["post"]

    def validator(content: dict) -> Draft202012Validator:
        return Draft202012Validator({"$ref": content["application/json"]["schema"]["$ref"],
                                     "components": spec["components"]})

    request, response = validator(op["requestBody"]["content"]), validator(op["responses"]["200"]["content"])
    _, inputs, _ = verification(service_repo, "credit_risk")
    body = {"records": json_records(inputs)[:50]}  # nulls and unseen categories included
    assert not list(request.iter_errors(body))
    answer = http.post(f"{service}/v1/models/credit_risk/predict", json=body)
    assert answer.status_code == 200 and not list(response.iter_errors(answer.json()))

    # what the schema rejects, the server rejects, naming the same field
    wrong_type = {"records": [{**body["records"][0], "income": "a lot"}]}
    absent = {"records": [{k: v for k, v in body["records"][0].items() if k != "region"}]}
    for bad, field in ((wrong_type, "income"), (absent, "region")):
        errors = list(request.iter_errors(bad))
        assert errors and field in (str(errors[0].path[-1]) + errors[0].message)
        r = http.post(f"{service}/v1/models/credit_risk/predict", json=bad)
        assert r.status_code == 400 and r.json()["error"]["field"] == field
    assert spec["components"]["schemas"]["PredictRequest_credit_risk"]["properties"]["records"]["maxItems"] == 500
    strict = spec["components"]["schemas"]["Record_credit_strict"]["properties"]["income"]
    assert strict["type"] == "number" and strict["maximum"] == 1e30  # that model cannot take a missing income
    wine = spec["components"]["schemas"]["Prediction_wine_class"]["properties"]
    assert wine["label"]["enum"] == ["class_0", "class_1", "class_2"]


def test_metrics_aggregate_both_workers(service: str, service_repo: Path) -> None:
    _, inputs, _ = verification(service_repo, "credit_risk")
    unseen = json_records(inputs.head(1))[0] | {"region": "atlantis"}
    before = requests.get(f"{service}/metrics").text
    n = 40
    for _ in range(n):  # new connections each time, so both workers take some
        assert requests.post(f"{service}/v1/models/credit_risk/predict",
                             json={"records": [unseen, unseen]}).status_code == 200
    after = requests.get(f"{service}/metrics").text
    labels = {"model": "credit_risk", "version": "1"}
    diff = {name: _metric(after, name, **labels) - _metric(before, name, **labels)
            for name in ("scorebridge_requests_total", "scorebridge_rows_scored_total",
                         "scorebridge_request_duration_seconds_count", "scorebridge_unseen_categories_total")}
    assert diff == {"scorebridge_requests_total": n, "scorebridge_rows_scored_total": 2 * n,
                    "scorebridge_request_duration_seconds_count": n, "scorebridge_unseen_categories_total": 2 * n}
    assert _metric(after, "scorebridge_unseen_categories_total", field="region") >= 2 * n
    assert after.count('scorebridge_requests_total{') >= 1


def test_audit_log_has_one_line_per_request(service: str, service_repo: Path, audit_log: Path,
                                            http: requests.Session) -> None:
    _, inputs, _ = verification(service_repo, "credit_risk")
    records = json_records(inputs.head(3))
    r = http.post(f"{service}/v1/models/credit_risk/predict", json={"records": records},
                  headers={"X-Request-ID": "audit-me-1"})
    bad = http.post(f"{service}/v1/models/credit_risk/predict", json={"records": []},
                    headers={"X-Request-ID": "audit-me-2"})
    assert r.status_code == 200 and bad.status_code == 400
    lines = {e["request_id"]: e for e in map(json.loads, audit_log.read_text().splitlines())}
    ok, err = lines["audit-me-1"], lines["audit-me-2"]
    assert {k: ok[k] for k in ("model", "version", "engine", "protocol", "records", "status")} == {
        "model": "credit_risk", "version": "1", "engine": "onnx", "protocol": "v1", "records": 3, "status": 200}
    assert ok["latency_ms"] > 0 and ok["time"].endswith("+00:00")
    assert ok["inputs"]["income"] == [rec["income"] for rec in records]  # --audit-sample 1: data logged
    assert ok["outputs"]["label"] == [p["label"] for p in r.json()["predictions"]]
    assert (err["status"], err["error"], err["records"]) == (400, "empty", 0)
