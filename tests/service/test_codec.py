"""The v1 JSON fast paths give exactly what the validating paths give, and fall back for the rest."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest

from scorebridge.errors import SchemaError
from scorebridge.prediction import Prediction
from scorebridge.schema import Field, InputSchema
from scoring_service.codec import PredictionsEncoder, RecordsDecoder, dumps, predictions_json, v1_columns
from scoring_service.errors import ApiError

SCHEMA = InputSchema([
    Field("income", "float64", "continuous"),
    Field("age in years", "int64", "continuous", nullable=False),  # not an identifier
    Field("owner", "bool", "categorical"),
    Field("region", "string", "categorical", ("north", "south")),
])
DECODER = RecordsDecoder(SCHEMA)


def _body(records: list) -> bytes:
    return orjson.dumps({"records": records})


def _validating_path(body: bytes) -> dict:
    return SCHEMA.from_records(json.loads(body)["records"])


def _same_columns(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        if want[name].dtype == object:
            assert got[name].tolist() == want[name].tolist(), name
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_fast_path_columns_equal_the_validating_path():
    rng = np.random.default_rng(3)
    records = []
    for i in range(500):
        records.append({
            "income": None if i % 7 == 0 else (int(rng.integers(0, 10**6)) if i % 3 else float(rng.normal())),
            "age in years": int(rng.integers(18, 90)),
            "owner": [True, False, None, 1, 0.0][i % 5],
            "region": [None, "north", "south", "mars", "ñ\"'"][i % 5],
            "extra": {"ignored": [1, 2]},
        })
    body = _body(records)
    assert DECODER(body) is not None  # really the fast path
    cols = v1_columns(DECODER, body, 10_000)
    _same_columns(cols, _validating_path(body))
    assert math.isnan(cols["income"][0]) and cols["owner"][:4].tolist()[:2] == [1.0, 0.0]
    assert SCHEMA.count_unseen(cols) == {"region": 200}


@pytest.mark.parametrize("body", [
    b'{"records": [{"income": NaN, "age in years": 3, "owner": true, "region": "north"}]}',  # NaN token
    b'{"records": [{"income": 1, "age in years": 3, "owner": true, "region": "north"}], "id": 5}',
])
def test_bodies_the_fast_path_rejects_or_ignores_still_score(body):
    cols = v1_columns(DECODER, body, 10)
    _same_columns(cols, SCHEMA.from_records(json.loads(body, parse_constant=lambda _: None)["records"]))


@pytest.mark.parametrize("body, code, field, record", [
    (b'{"records": []}', "empty", "records", None),
    (b'{"records": {"income": 1}}', "invalid_request", "records", None),
    (b'{"rows": []}', "invalid_request", "records", None),
    (b'{"records": [{"income": 1, "owner": true, "region": "north"}]}', "missing_field", "age in years", 0),
    (b'{"records": [{"income": 1, "age in years": 3, "owner": true, "region": "north"},'
     b' {"income": "1", "age in years": 3, "owner": true, "region": "north"}]}', "invalid_type", "income", 1),
    (b'{"records": [{"income": 1, "age in years": 3, "owner": "yes", "region": "north"}]}',
     "invalid_type", "owner", 0),
    (b'{"records": [{"income": 1, "age in years": 3, "owner": true, "region": 7}]}', "invalid_type", "region", 0),
    (b'{"records": [{"income": 1, "age in years": null, "owner": true, "region": "north"}]}',
     "missing_value", "age in years", 0),
])
def test_bad_bodies_get_the_validating_paths_error(body, code, field, record):
    with pytest.raises((SchemaError, ApiError)) as err:  # both map to a 400 with these three
        v1_columns(DECODER, body, 10)
    assert (err.value.code, err.value.field, err.value.record) == (code, field, record)


def test_the_record_limit_holds_on_the_fast_path():
    one = {"income": 1, "age in years": 3, "owner": True, "region": "north"}
    with pytest.raises(ApiError) as err:
        v1_columns(DECODER, _body([one] * 11), 10)
    assert (err.value.status, err.value.code) == (413, "too_many_records")


def _reference(prediction: Prediction) -> bytes:
    return dumps(prediction.to_records())


@pytest.mark.parametrize("classes", [[0, 1], [False, True], ["a,b", "50%s", 'quo"te', "é"], [3, 1, 2]])
def test_bulk_predictions_are_the_bytes_of_the_records(classes):
    rng = np.random.default_rng(len(classes))
    proba = rng.dirichlet(np.ones(len(classes)), size=257)
    proba[0] = [1.0] + [0.0] * (len(classes) - 1)
    proba[1, 0] = 5e-324  # subnormal
    proba[2, -1] = np.nan
    pred = Prediction.classification(classes, proba)
    got = bytes(orjson.dumps(predictions_json(pred)))
    assert got == _reference(pred)
    assert [r["label"] for r in orjson.loads(got)] == [classes[i] for i in np.argmax(proba, axis=1)]
    # a model's encoder is built once and serves every request: one record (its own path) and many
    encoder = PredictionsEncoder("classification", classes)
    for n in (1, 2, 257):
        part = Prediction.classification(classes, proba[-n:])
        assert bytes(orjson.dumps(encoder(part))) == _reference(part)


def test_bulk_regression_predictions_are_the_bytes_of_the_records():
    values = np.array([0.0, -1.5, 1e300, 1e-300, np.nan, 123456789.125, 7.0])
    pred = Prediction.regression(values)
    assert bytes(orjson.dumps(predictions_json(pred))) == _reference(pred)
    one = Prediction.regression(np.array([2.5]))
    assert orjson.loads(orjson.dumps(predictions_json(one))) == [{"prediction": 2.5}]
    encoder = PredictionsEncoder("regression", [])
    for n in (1, 2, 7):
        part = Prediction.regression(values[-n:])
        assert bytes(orjson.dumps(encoder(part))) == _reference(part)
