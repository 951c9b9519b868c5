"""Labels of every type round-trip, and encoders that refuse unknown categories export as *strict* inputs.

Real exports (sklearn2pmml on the JVM, skl2onnx), scored by JPMML and ONNX Runtime, served over HTTP by
gunicorn and predicted by the CLI.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from exporters import export_bundle, fidelity
from scorebridge.bundle import Bundle
from scorebridge.engines import load_engine
from scorebridge.errors import SchemaError
from scorebridge.prediction import Prediction, as_class_values
from scoring_service.testing import running_service


def _frame(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "city": rng.choice(["Paris", "Lyon", "Nice"], n),
                         "plan": rng.choice(["basic", "pro"], n)})


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("labels-strict")


@pytest.fixture(scope="module")
def strict_bundle(repo) -> Bundle:
    """``OneHotEncoder()`` (handle_unknown='error') on city, ``OrdinalEncoder()`` on plan, bool target."""
    X = _frame()
    y = (X.age > 45) ^ (X.city == "Lyon")
    pre = ColumnTransformer([("num", StandardScaler(), ["age"]), ("oh", OneHotEncoder(), ["city"]),
                             ("ord", OrdinalEncoder(), ["plan"])])
    model = make_pipeline(pre, LogisticRegression()).fit(X, y.astype(bool))
    return export_bundle(model, X, name="strict", repo=repo, require="pmml,onnx")


@pytest.fixture(scope="module")
def hgb_category_bundle(repo) -> tuple[Bundle, object, pd.DataFrame]:
    """HistGradientBoosting on pandas ``category`` columns (unseen scored as missing natively)."""
    X = _frame(400, seed=5)
    X.loc[X.index[::9], "city"] = None
    y = (X.age > 45) ^ (X.plan == "pro")
    X = X.astype({"city": "category", "plan": "category"})
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=15).fit(X, y)
    return export_bundle(model, X, name="hgb_cat", repo=repo, require="pmml,onnx"), model, X


def test_strict_fields_are_recorded_with_their_categories(strict_bundle: Bundle) -> None:
    inputs = {f["name"]: f for f in strict_bundle.manifest["inputs"]}
    assert inputs["city"]["strict"] is True and inputs["city"]["categories"] == ["Lyon", "Nice", "Paris"]
    assert inputs["plan"]["strict"] is True and inputs["plan"]["categories"] == ["basic", "pro"]
    assert "strict" not in inputs["age"]
    # the encoders raise on a missing value too (none seen in training): not nullable
    assert inputs["city"]["nullable"] is False and inputs["plan"]["nullable"] is False
    # the gate verified only rows the model accepts: no unseen rows for strict fields
    fid = strict_bundle.manifest["fidelity"]
    assert fid["pmml"]["passed"] and fid["onnx"]["passed"]
    assert inputs["age"]["nullable"] is False  # LogisticRegression raises on NaN: no missing-age row either
    assert fid["onnx"]["rows"] == fid["pmml"]["rows"] == 200


def test_schema_refuses_an_unseen_value_of_a_strict_field_in_every_converter(strict_bundle: Bundle) -> None:
    import pyarrow as pa

    schema = strict_bundle.schema
    good = {"age": 30.0, "city": "Paris", "plan": "pro"}
    schema.from_records([good])
    with pytest.raises(SchemaError) as err:
        schema.from_records([good, good | {"city": "Marseille"}])
    assert (err.value.code, err.value.field, err.value.record) == ("unknown_category", "city", 1)
    assert "'Marseille'" in str(err.value) and "'Lyon', 'Nice', 'Paris'" in str(err.value)
    frame = pd.DataFrame([good, good | {"plan": "team"}])
    for convert in (schema.from_frame, lambda f: schema.from_arrow(pa.Table.from_pandas(f))):
        with pytest.raises(SchemaError) as err:
            convert(frame)
        assert (err.value.code, err.value.field, err.value.record) == ("unknown_category", "plan", 1)
    with pytest.raises(SchemaError) as err:  # the typed fast path checks too
        schema.from_typed_lists({"age": [1.0], "city": ["Rome"], "plan": ["pro"]})
    assert err.value.code == "unknown_category"


def test_strict_bundle_scores_known_values_like_native_with_bool_labels(strict_bundle: Bundle) -> None:
    rows = _frame(50, seed=11)
    native = load_engine(strict_bundle, "native", trust_pickles=True).predict(rows)
    for name in ("onnx", "pmml"):
        pred = load_engine(strict_bundle, name).predict(rows)
        assert pred.labels.tolist() == native.labels.tolist()
        assert {type(v) for v in pred.labels.tolist()} == {bool}
        np.testing.assert_allclose(pred.probabilities, native.probabilities, atol=1e-9)
    assert strict_bundle.manifest["classes"] == [False, True]
    assert strict_bundle.manifest["outputs"] == [{"name": "label", "dtype": "bool"},
                                                 {"name": "probability_false", "dtype": "float64"},
                                                 {"name": "probability_true", "dtype": "float64"}]


def test_service_answers_400_for_an_unseen_category_and_real_booleans_for_labels(repo, strict_bundle) -> None:
    good = {"age": 52.0, "city": "Nice", "plan": "basic"}
    with running_service(repo) as base:
        url = f"{base}/v1/models/strict"
        r = requests.post(f"{url}/predict", json={"records": [good]}, timeout=30)
        assert r.status_code == 200, r.text
        pred = r.json()["predictions"][0]
        assert isinstance(pred["label"], bool) and set(pred["probabilities"]) == {"false", "true"}
        r = requests.post(f"{url}/predict", json={"records": [good, good | {"city": "Marseille"}]}, timeout=30)
        assert r.status_code == 400
        assert r.json()["error"] | {"message": ""} == {"code": "unknown_category", "field": "city", "record": 1,
                                                       "message": ""}
        csv = "age,city,plan\n52,Nice,basic\n40,Nice,gold\n"
        r = requests.post(f"{url}/predict", data=csv, headers={"Content-Type": "text/csv"}, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["field"] == "plan", r.text
        r = requests.post(f"{url}/predict", data=csv.replace(",gold", ",pro"), headers={"Content-Type": "text/csv"},
                          timeout=30)
        assert r.status_code == 200 and r.text.splitlines()[1].split(",")[0] in ("true", "false"), r.text
        v2 = {"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [30.0]},
                         {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["Oslo"]},
                         {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["pro"]}]}
        r = requests.post(f"{base}/v2/models/strict/infer", json=v2, timeout=30)
        assert r.status_code == 400 and r.json()["code"] == "unknown_category" and r.json()["field"] == "city"
        assert "Oslo" in r.json()["error"]


def test_predict_cli_refuses_an_unseen_category_with_one_line_and_writes_nothing(strict_bundle, tmp_path) -> None:
    rows = _frame(20, seed=2)
    rows.loc[7, "city"] = "Marseille"
    src, out = tmp_path / "in.parquet", tmp_path / "out.csv"
    rows.to_parquet(src)
    res = subprocess.run([sys.executable, "-m", "scorebridge", "predict", str(strict_bundle.path), "--input", str(src),
                          "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "'Marseille'" in res.stderr and "record 7" in res.stderr
    assert not out.exists()
    rows.loc[7, "city"] = "Paris"
    rows.to_parquet(src)
    res = subprocess.run([sys.executable, "-m", "scorebridge", "predict", str(strict_bundle.path), "--input", str(src),
                          "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["label", "probability_false", "probability_true"]
    assert scored["label"].dtype == bool  # written as true/false, read back as booleans


def test_hgb_pandas_categories_pmml_routes_unseen_as_missing(hgb_category_bundle) -> None:
    bundle, model, X = hgb_category_bundle
    assert bundle.manifest["pmml"]["unseen_as_missing"] == ["city", "plan"]
    assert bundle.manifest["fidelity"]["pmml"]["label_mismatches"] == 0
    rows = X.head(40).astype(object)
    rows.loc[rows.index[::4], "city"] = "Marseille"
    rows.loc[rows.index[1::4], "city"] = None
    native = load_engine(bundle, "native", trust_pickles=True).predict(rows)
    pmml = load_engine(bundle, "pmml").predict(rows)
    np.testing.assert_allclose(pmml.probabilities, native.probabilities, atol=1e-9)
    assert pmml.labels.tolist() == native.labels.tolist()


@pytest.mark.parametrize(("raw", "classes", "expected"), [
    (np.array([0, 1, 1]), [False, True], [False, True, True]),             # ONNX's int64 for bool classes
    (np.array(["true", "false"], dtype=object), [False, True], [True, False]),  # JPMML's text
    (np.array([1.0, 0.0]), [0, 1], [1, 0]),                                 # pandas floats for ints
    (np.array(["-1", "2"], dtype=object), [-1, 2], [-1, 2]),
    (np.array(["0.5", "1.5"], dtype=object), [0.5, 1.5], [0.5, 1.5]),
    (np.array(["a b", "é"], dtype=object), ["a b", "é"], ["a b", "é"]),
])
def test_labels_become_the_classes_own_values(raw, classes, expected) -> None:
    values = as_class_values(raw, classes).tolist()
    assert values == expected and [type(v) for v in values] == [type(e) for e in expected]


def test_a_runtime_without_output_is_counted_not_hidden() -> None:
    native = Prediction.classification([0, 1], np.array([[0.2, 0.8], [0.6, 0.4]]))
    artifact = Prediction.classification([0, 1], np.array([[0.2, 0.8], [np.nan, np.nan]]),
                                         labels=np.array([1.0, np.nan]))
    report = fidelity.compare(artifact, native, 1e-6, ["sample", "missing c1"])
    assert not report["passed"] and report["rows_without_output"] == 1 and report["worst_rows"] == ["missing c1"]
    assert report["label_mismatches"] == 1
    # a tie at p=0.5 may go either way: a mismatch there is within the margin
    tie = Prediction.classification([0, 1], np.array([[0.5, 0.5]]))
    other = Prediction.classification([0, 1], np.array([[0.5, 0.5]]), labels=np.array([1]))
    assert fidelity.compare(other, tie, 1e-6)["passed"]


@pytest.mark.parametrize(("labels", "classes"), [(np.array(["yes", "no"]), ["no", "yes"]),
                                                 (np.array([1, 0]), [0, 1]), (np.array([True, False]), [False, True])])
def test_label_only_classifiers_get_the_labels_indicator(labels, classes) -> None:
    pred = Prediction.classification(classes, None, labels=labels)  # LinearSVC: labels only, as NumPy gives them
    assert pred.probabilities.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_json_answers_keep_the_label_type(strict_bundle: Bundle) -> None:
    pred = load_engine(strict_bundle, "onnx").predict(_frame(3, seed=1))
    records = json.loads(json.dumps(pred.to_records()))
    assert all(isinstance(r["label"], bool) and set(r["probabilities"]) == {"false", "true"} for r in records)
    assert io.StringIO(pred.to_frame().to_csv()).getvalue()  # the frame keeps bools for Python users
