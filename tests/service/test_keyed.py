"""Scoring by key: the real server with --feature-store against a real redis-server, batches written
by the real publisher (``online_features.publish``)."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import redis
import requests

from online_features.layout import increment_key
from online_features.publish import publish_batch
from online_features.server import running_redis
from scoring_service.testing import running_service
from service.helpers import json_records, verification
from service.helpers import metric_sum as _metric

PASSWORD = "s3cret-Pw-9"
ARGS = ["--poll-interval", "0", "--audit-sample", "0"]
ENTITY = "customer_id"


def _day(ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=ago)).isoformat()


CURRENT, PREVIOUS = _day(1), _day(3)


@pytest.fixture(scope="module")
def rows(sample_repo: Path) -> list[dict]:
    """Twelve credit_risk records (nulls included), keyed 100, 101, ..."""
    _, inputs, _ = verification(sample_repo, "credit_risk")
    return json_records(inputs.head(12))


def _table(rows: list[dict], ids: list[int]) -> pa.Table:
    frame = pd.DataFrame(rows)
    frame.insert(0, ENTITY, ids)
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="module")
def store(rows: list[dict]) -> Iterator[str]:
    """A redis-server with a password, holding two batches of feature set ``credit``: the previous one
    (3 days ago) holds keys 100..111, the current one (yesterday) 100..107 with record i+1's values
    for key 100+i; ``late_payments`` is additive."""
    with running_redis() as url:
        redis.Redis.from_url(url).config_set("requirepass", PASSWORD)
        authed = url.replace("redis://", f"redis://:{PASSWORD}@")
        names = list(rows[0])
        publish_batch(authed, "credit", _table(rows, list(range(100, 112))), entity=ENTITY, features=names,
                      dt=PREVIOUS, additive=["late_payments"])
        publish_batch(authed, "credit", _table(rows[1:9], list(range(100, 108))), entity=ENTITY, features=names,
                      dt=CURRENT, additive=["late_payments"])
        yield authed


@pytest.fixture(scope="module")
def keyed_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keyed") / "serve.log"


@pytest.fixture(scope="module")
def server(sample_repo: Path, store: str, keyed_log: Path) -> Iterator[str]:
    with running_service(sample_repo, workers=1, log_path=keyed_log,
                         args=[*ARGS, "--feature-store", store, "--feature-set", "credit_risk=credit"]) as base:
        yield base


def _predict(base: str, records: list[dict]) -> requests.Response:
    return requests.post(f"{base}/v1/models/credit_risk/predict", json={"records": records}, timeout=10)


def _strip(predictions: list[dict]) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "features"} for p in predictions]


def test_a_keyed_record_scores_what_the_full_record_scores(server: str, rows: list[dict]) -> None:
    full = _predict(server, [rows[1], rows[2], rows[9]]).json()["predictions"]
    r = _predict(server, [{ENTITY: 100}, {ENTITY: "101"}, {ENTITY: 109}])  # an int key or its text
    assert r.status_code == 200, r.text
    keyed = r.json()["predictions"]
    assert _strip(keyed) == full
    assert [p["features"] for p in keyed] == [{"batch": CURRENT, "fallback": False}] * 2 + [
        {"batch": PREVIOUS, "fallback": True}]  # 109 is only in the previous batch


def test_a_request_value_wins_and_null_is_missing(server: str, rows: list[dict]) -> None:
    mixed = {**rows[1], "income": 12345.0, "region": None}
    want = _predict(server, [mixed]).json()["predictions"]
    got = _predict(server, [{ENTITY: 100, "income": 12345.0, "region": None}]).json()["predictions"]
    assert _strip(got) == want and got[0]["features"]["batch"] == CURRENT
    assert want != _predict(server, [rows[1]]).json()["predictions"]  # the overrides changed the score


def test_a_key_in_no_batch_scores_with_missing_inputs(server: str, rows: list[dict]) -> None:
    missing = {name: None for name in rows[0]}
    want = _predict(server, [missing]).json()["predictions"]
    got = _predict(server, [{ENTITY: "nobody"}]).json()["predictions"]
    assert _strip(got) == want and got[0]["features"] == {"batch": None, "fallback": False}
    # records without the key in a keyed request are scored as always, without annotation
    both = _predict(server, [rows[0], {ENTITY: 100}]).json()["predictions"]
    assert "features" not in both[0] and both[0] == _predict(server, [rows[0]]).json()["predictions"][0]


def test_additive_features_add_the_increments_after_the_batch(server: str, store: str, rows: list[dict]) -> None:
    r = redis.Redis.from_url(store)
    # key 110 (previous batch only: 3 days ago): two days after it count; key 102 (current): only today
    for entity, day, n in [(110, _day(2), 1), (110, _day(0), 2), (110, _day(3), 50), (102, _day(0), 3),
                           (102, _day(1), 40)]:
        r.hincrbyfloat(increment_key("credit", str(entity), day), "late_payments", n)
    base_110, base_102 = rows[10]["late_payments"], rows[3]["late_payments"]
    assert base_110 is not None and base_102 is not None
    want = _predict(server, [{**rows[10], "late_payments": base_110 + 3}, {**rows[3], "late_payments": base_102 + 3}])
    got = _predict(server, [{ENTITY: 110}, {ENTITY: 102}])
    assert _strip(got.json()["predictions"]) == want.json()["predictions"]


def test_csv_by_key(server: str, rows: list[dict]) -> None:
    full = pd.DataFrame([rows[1], rows[9]]).to_csv(index=False)
    want = requests.post(f"{server}/v1/models/credit_risk/predict", data=full,
                         headers={"Content-Type": "text/csv"}).text
    r = requests.post(f"{server}/v1/models/credit_risk/predict?keep=customer_id", data="customer_id\n100\n109\n",
                      headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    got = pd.read_csv(io.StringIO(r.text), keep_default_na=False)
    expected = pd.read_csv(io.StringIO(want), keep_default_na=False)
    assert list(got.columns) == [ENTITY, *expected.columns, "feature_batch", "feature_fallback", "feature_error"]
    pd.testing.assert_frame_equal(got[expected.columns], expected)
    assert got["feature_batch"].tolist() == [CURRENT, PREVIOUS]
    assert got["feature_fallback"].tolist() == [False, True]
    bad = requests.post(f"{server}/v1/models/credit_risk/predict", data="customer_id\n\n100\n,\n",
                        headers={"Content-Type": "text/csv"})
    assert bad.status_code in (200, 400)  # a blank line is skipped; an empty key cell is a 400
    empty_key = requests.post(f"{server}/v1/models/credit_risk/predict", data="customer_id,income\n,1\n",
                              headers={"Content-Type": "text/csv"})
    assert empty_key.status_code == 400 and empty_key.json()["error"]["field"] == ENTITY


def test_v2_by_key_bytes_and_int64(server: str, rows: list[dict]) -> None:
    meta = requests.get(f"{server}/v2/models/credit_risk").json()
    records = [rows[1], rows[9]]
    tensors = [{"name": i["name"], "datatype": i["datatype"], "shape": [2], "data": [rec[i["name"]] for rec in records]}
               for i in meta["inputs"]]
    want = requests.post(f"{server}/v2/models/credit_risk/infer", json={"inputs": tensors}).json()["outputs"]
    for key in ({"datatype": "BYTES", "data": ["100", "109"]}, {"datatype": "INT64", "data": [100, 109]}):
        r = requests.post(f"{server}/v2/models/credit_risk/infer",
                          json={"inputs": [{"name": ENTITY, "shape": [2], **key}]})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == want
        assert r.json()["parameters"]["features"] == [{"batch": CURRENT, "fallback": False},
                                                      {"batch": PREVIOUS, "fallback": True}]
    # binary tensor data (the extension tritonclient uses): an INT64 key tensor as raw little-endian bytes
    header = json.dumps({"inputs": [{"name": ENTITY, "shape": [2], "datatype": "INT64",
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    r = requests.post(f"{server}/v2/models/credit_risk/infer", data=header + struct.pack("<2q", 100, 109),
                      headers={"Inference-Header-Content-Length": str(len(header)),
                               "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == want
    # a request value wins in V2 too
    income = next(t for t in tensors if t["name"] == "income")
    r = requests.post(f"{server}/v2/models/credit_risk/infer", json={"inputs": [
        {"name": ENTITY, "shape": [2], "datatype": "INT64", "data": [100, 109]}, income]})
    assert r.json()["outputs"] == want
    bad = requests.post(f"{server}/v2/models/credit_risk/infer",
                        json={"inputs": [{"name": ENTITY, "shape": [1], "datatype": "FP64", "data": [1.5]}]})
    assert bad.status_code == 400 and bad.json()["field"] == ENTITY


@pytest.mark.parametrize("key", [True, 1.5, {"id": 1}, [100], None])
def test_a_key_of_the_wrong_type_is_a_400_naming_it(server: str, key: object) -> None:
    r = _predict(server, [{ENTITY: 100}, {ENTITY: key}])
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["field"], error["record"], error["code"]) == (ENTITY, 1, "invalid_type")


def test_a_whole_float_key_is_its_integer(server: str) -> None:
    a, b = _predict(server, [{ENTITY: 100.0}]).json(), _predict(server, [{ENTITY: 100}]).json()
    assert a["predictions"] == b["predictions"]


def test_metrics_openapi_and_no_password_anywhere(server: str, keyed_log: Path, rows: list[dict]) -> None:
    from jsonschema import Draft202012Validator

    before = requests.get(f"{server}/metrics").text
    _predict(server, [{ENTITY: 100}, {ENTITY: 109}, {ENTITY: "nobody"}])
    after = requests.get(f"{server}/metrics").text
    for outcome in ("hit", "fallback", "miss"):
        delta = (_metric(after, "scorebridge_feature_lookups_total", model="credit_risk", outcome=outcome)
                 - _metric(before, "scorebridge_feature_lookups_total", model="credit_risk", outcome=outcome))
        assert delta == 1, outcome
    assert _metric(after, "scorebridge_feature_lookup_duration_seconds_count", model="credit_risk") > 0
    spec = requests.get(f"{server}/openapi.json").json()
    op = spec["paths"]["/v1/models/credit_risk/predict"]["post"]
    request_schema = Draft202012Validator({"$ref": op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                                           "components": spec["components"]})
    answer_schema = Draft202012Validator({"$ref": op["responses"]["200"]["content"]["application/json"]["schema"]
                                          ["$ref"], "components": spec["components"]})
    body = {"records": [{ENTITY: 100}, {ENTITY: "x", "income": None}, rows[0]]}
    assert not list(request_schema.iter_errors(body))
    assert list(request_schema.iter_errors({"records": [{"income": 1.0}]}))  # neither whole nor keyed
    assert not list(answer_schema.iter_errors(_predict(server, body["records"]).json()))
    from openapi_spec_validator import validate

    validate(spec)
    audited = [json.loads(line) for line in keyed_log.read_text().splitlines() if line.startswith('{"request_id"')]
    keyed_lines = [a["features"] for a in audited if "features" in a]
    assert {"set": "credit", "batches": [PREVIOUS, CURRENT], "fallback": 1, "missing": 1} in keyed_lines
    ready = requests.get(f"{server}/readyz")
    assert ready.json()["feature_store"]["sets"]["credit_risk"] == {"set": "credit", "entity": ENTITY}
    console = requests.get(f"{server}/ui/")
    assert console.status_code == 200
    texts = [ready.text, after, json.dumps(spec), console.text, keyed_log.read_text()]
    assert all(PASSWORD not in t for t in texts)
    assert "redis" not in ready.text and "127.0.0.1" not in ready.text  # no store URL without a token


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_starts_and_scores_with_the_store_down(sample_repo: Path, rows: list[dict], tmp_path: Path) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{_closed_port()}/0"
    log = tmp_path / "serve.log"
    with running_service(sample_repo, workers=1, log_path=log,
                         args=[*ARGS, "--feature-store", url, "--feature-set", f"credit_risk=credit:{ENTITY}"]) as base:
        full = _predict(base, [rows[0]])
        assert full.status_code == 200 and "features" not in full.json()["predictions"][0]
        start = time.perf_counter()
        answers = [_predict(base, [{ENTITY: 100, "income": 5.0}]) for _ in range(20)]
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0
        for a in answers:
            assert a.status_code == 200
            assert a.json()["predictions"][0]["features"] == {"batch": None, "error": "unavailable"}
        missing = {name: None for name in rows[0]} | {"income": 5.0}
        assert _strip(answers[0].json()["predictions"]) == _predict(base, [missing]).json()["predictions"]
        metrics = requests.get(f"{base}/metrics").text
        assert _metric(metrics, "scorebridge_feature_lookups_total", outcome="unavailable") == 20
        assert PASSWORD not in requests.get(f"{base}/readyz").text
    assert PASSWORD not in log.read_text()


def test_a_paused_then_stopped_store(sample_repo: Path, rows: list[dict]) -> None:
    with running_redis() as url:
        publish_batch(url, "credit_risk", _table(rows[:2], [100, 101]), entity=ENTITY, features=list(rows[0]),
                      dt=CURRENT)
        # no --feature-set: the model's own name is its set; the URL from the environment
        with running_service(sample_repo, workers=1, args=ARGS, env={"SCOREBRIDGE_FEATURE_STORE": url}) as base:
            ok = _predict(base, [{ENTITY: 101}])
            assert _strip(ok.json()["predictions"]) == _predict(base, [rows[1]]).json()["predictions"]
            redis.Redis.from_url(url).client_pause(3000)
            start = time.perf_counter()
            paused = _predict(base, [{ENTITY: 101}])
            assert time.perf_counter() - start < 0.5
            assert paused.status_code == 200
            assert paused.json()["predictions"][0]["features"] == {"batch": None, "error": "timeout"}
            time.sleep(3.1)
            assert _predict(base, [{ENTITY: 101}]).json()["predictions"][0]["features"]["batch"] == CURRENT
            redis.Redis.from_url(url).shutdown(nosave=True)
            start = time.perf_counter()
            down = [_predict(base, [{ENTITY: 101}]) for _ in range(10)]
            assert time.perf_counter() - start < 1.0
            assert all(d.json()["predictions"][0]["features"] == {"batch": None, "error": "unavailable"} for d in down)
            metrics = requests.get(f"{base}/metrics").text
            assert _metric(metrics, "scorebridge_feature_lookups_total", outcome="timeout") == 1
            assert _metric(metrics, "scorebridge_feature_lookups_total", outcome="unavailable") == 10


@pytest.mark.parametrize(("args", "message"), [
    (["--feature-store", f"http://u:{PASSWORD}@h:1/0"], "--feature-store: invalid Redis URL http://u:***@h:1/0"),
    (["--feature-store", "redis://h:1/0", "--feature-set", "credit_risk"], "--feature-set 'credit_risk': expected"),
    (["--feature-set", "credit_risk=credit"], "--feature-set needs --feature-store"),
    (["--feature-store", "redis://h:1/0", "--feature-set", "credit_risk=bad name"], "invalid feature set name"),
])
def test_bad_feature_options_are_one_line_errors(sample_repo: Path, args: list[str], message: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "scorebridge.cli", "serve", "--repo", str(sample_repo), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("scorebridge: error: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr


def test_feature_settings_from_the_environment(sample_repo: Path) -> None:
    from scoring_service.config import ServiceConfig

    config = ServiceConfig.from_env({"SCOREBRIDGE_REPO": str(sample_repo), "SCOREBRIDGE_FEATURE_STORE": "redis://h/0",
                                     "SCOREBRIDGE_FEATURE_SETS": "credit_risk=credit:customer_id, wine_class=wine",
                                     "SCOREBRIDGE_FEATURE_TIMEOUT_MS": "5"})
    assert (config.feature_store, config.feature_timeout_ms) == ("redis://h/0", 5.0)
    assert config.feature_sets == {"credit_risk": "credit:customer_id", "wine_class": "wine"}


def test_schemathesis_finds_no_failure_with_keyed_records(sample_repo: Path, store: str, tmp_path: Path) -> None:
    """The contract test's schemathesis run (``--checks all``) on credit_risk's predict operations of a server
    whose OpenAPI document admits keyed records (and the ``features`` member of the answer)."""
    import shutil
    import subprocess

    if shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (the test extra installs it)")
    repo = tmp_path / "models"
    shutil.copytree(sample_repo / "credit_risk", repo / "credit_risk")
    log = tmp_path / "serve.log"
    args = ["--audit-log", "off", "--poll-interval", "0", "--max-records", "20", "--feature-store", store,
            "--feature-set", "credit_risk=credit"]
    with running_service(repo, workers=1, log_path=log, args=args) as base:
        spec = requests.get(f"{base}/openapi.json").json()
        assert "anyOf" in spec["components"]["schemas"]["Record_credit_risk"]  # full or keyed
        config = Path(__file__).with_name("schemathesis.toml")
        done = subprocess.run(
            ["schemathesis", "--config-file", str(config), "run", f"{base}/openapi.json", "--checks", "all",
             "--phases", "examples,coverage,fuzzing", "--max-examples", "5", "--workers", "1", "--seed", "18",
             "--include-path-regex", "^/v1/models/credit_risk/(versions/[^/]+/)?predict$"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        summary = done.stdout[-6000:]
        assert done.returncode == 0, summary
        assert "passed" in summary, summary
        after = requests.get(f"{base}/metrics").text
    assert _metric(after, "scorebridge_feature_lookups_total") > 0  # keyed records were among those sent
    errors = [line for line in log.read_text().splitlines() if "[ERROR]" in line]
    assert errors == [], errors[:5]
