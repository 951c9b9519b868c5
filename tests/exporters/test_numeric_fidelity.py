"""Numeric fidelity of converted artifacts where plain converters drift: each test exports a real
pipeline (sklearn2pmml on a JVM, skl2onnx/onnxmltools) and scores rows the verification set does not
hold (mixed batches, NaN in columns that had none in training, zeros) through JPMML, ONNX Runtime and
the XGBoost fast path, against the native model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from exporters import export_bundle
from scorebridge.engines import load_engine


def _native(model, rows: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(rows) if hasattr(model, "predict_proba") else model.predict(rows)


def _scored(bundle, engine: str, rows: pd.DataFrame) -> np.ndarray:
    pred = load_engine(bundle, engine).predict(rows)
    return pred.probabilities if pred.task == "classification" else pred.values


def _assert_engines_agree(bundle, model, rows: pd.DataFrame, engines: tuple[str, ...], rtol: float) -> None:
    native = _native(model, rows)
    for engine in engines:
        got = _scored(bundle, engine, rows)
        scale = np.maximum(1.0, np.abs(native))
        assert np.max(np.abs(got - native) / scale) <= rtol, (engine, np.max(np.abs(got - native) / scale))


def _codes_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"region": rng.integers(1, 6, n), "grade": rng.choice([0.5, 1.5, 2.5], n),
                      "vip": rng.random(n) < 0.3, "zone": rng.integers(10, 14, n),
                      "plan": rng.choice(["basic", "pro", "team"], n)})
    y = ((X.region > 2) ^ (X.plan == "pro") ^ X.vip).astype(int)
    return X, y


def test_unseen_and_missing_numeric_codes_encode_per_row_in_a_mixed_batch(tmp_path) -> None:
    """OneHotEncoder(handle_unknown='ignore') over integer, float and bool codes and
    OrdinalEncoder(use_encoded_value) over integers: an unseen code encodes to all zeros (or
    ``unknown_value``) even when the other rows of the batch hold known codes (ONNX), and a missing
    code, which training never saw, like an unseen one (PMML)."""
    X, y = _codes_frame()
    pre = ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), ["region", "grade", "vip", "plan"]),
                             ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["zone"])])
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)
    bundle = export_bundle(model, X, name="codes", repo=tmp_path, require="pmml,onnx")
    assert set(bundle.manifest["pmml"]["missing_as_unseen"]) >= {"region", "zone"}
    rows = X.head(12).copy()
    rows.loc[rows.index[1], "region"] = 9  # unseen integer code, between known rows
    rows.loc[rows.index[4], "grade"] = 7.25  # unseen float code
    rows.loc[rows.index[7], "zone"] = 99  # unseen ordinal code -> unknown_value
    rows.loc[rows.index[9], ["region", "zone"]] = [0, 0]
    rows = pd.concat([rows, rows.head(3).assign(region=np.nan), rows.head(3).assign(zone=np.nan),
                      rows.head(3).assign(grade=np.nan)], ignore_index=True)
    assert not np.allclose(_native(model, rows)[1], _native(model, rows.assign(region=rows.region.where(
        rows.index != rows.index[1], 1)))[1])  # the unseen code does change the prediction
    _assert_engines_agree(bundle, model, rows, ("onnx", "pmml"), 1e-12)


def _lgbm_frame(n: int = 500, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(1.0, 1.0, n), "c": rng.uniform(-2, 2, n),
                      "z": rng.choice([0.0, -0.0, 1.0, -1.0, 2.0], n)})
    X.loc[rng.random(n) < 0.1, "a"] = np.nan  # only a has NaN in training: missing_type NaN; b, c: None
    y = np.nan_to_num(X.a) * 3 + X.b ** 2 - 2 * X.c + X.z * 5
    return X, y


def _nan_rows(X: pd.DataFrame) -> pd.DataFrame:
    """60 training rows, then the same with NaN in each column in turn, then NaN everywhere."""
    base = X.head(60)
    return pd.concat([base, *(base.assign(**{c: np.nan}) for c in X.columns), base.assign(**dict.fromkeys(X, np.nan))],
                     ignore_index=True)


@pytest.mark.parametrize("kind", ["regressor", "multiclass", "zero_as_missing"])
def test_lightgbm_pmml_and_onnx_route_missing_values_like_lightgbm(kind: str, tmp_path) -> None:
    """LightGBM scores NaN in a column that had none in training as 0.0 (missing_type None), in one that
    had as its learned default side (NaN), and with zero_as_missing both NaN and zero go to the default
    side (Zero): JPMML-LightGBM's PMML used the default side for all three."""
    import lightgbm as lgb

    X, y = _lgbm_frame()
    params = {"n_estimators": 25, "num_leaves": 15, "min_child_samples": 5, "verbose": -1, "n_jobs": 1}
    if kind == "multiclass":
        model = lgb.LGBMClassifier(**params).fit(X, pd.qcut(y, 3, labels=False))
    elif kind == "zero_as_missing":
        model = lgb.LGBMRegressor(zero_as_missing=True, **params).fit(X, y)
    else:
        model = lgb.LGBMRegressor(**params).fit(X, y)
    missing_types = {n["missing_type"] for t in model.booster_.dump_model()["tree_info"]
                     for n in _splits(t["tree_structure"])}
    assert missing_types == ({"Zero"} if kind == "zero_as_missing" else {"None", "NaN"})
    bundle = export_bundle(model, X, name="lgbm", repo=tmp_path, require="pmml" if kind == "zero_as_missing" else
                           "pmml,onnx")
    rows = _nan_rows(X)
    if kind == "regressor":  # LightGBM's own rule, which the artifacts must follow: NaN in b is scored as b = 0
        np.testing.assert_array_equal(_native(model, rows)[120:180], _native(model, rows.head(60).assign(b=0.0)))
    _assert_engines_agree(bundle, model, rows, ("pmml",), 1e-12)
    if kind == "zero_as_missing":  # onnxmltools routes a zero by its threshold: denylisted, and said so
        assert bundle.manifest["excluded"]["onnx"]["reason"] == "denylist"
        assert "zero_as_missing" in bundle.manifest["excluded"]["onnx"]["message"]
    else:
        _assert_engines_agree(bundle, model, rows, ("onnx",), 1e-5)


def _splits(node: dict) -> list[dict]:
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


@pytest.mark.parametrize("family", ["xgboost", "hist_gbdt"])
def test_nan_only_at_inference_goes_where_the_booster_sends_it(family: str, tmp_path) -> None:
    """XGBoost and HistGradientBoosting trained without any NaN still route one (XGBoost: each split's
    default direction; HistGradientBoosting: the child that saw more samples)."""
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500), "c": rng.uniform(size=500)})
    y = ((X.a - X.b + X.c) > 0.5).astype(int)
    if family == "xgboost":
        import xgboost as xgb

        model = xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1).fit(X, y)
        engines, require = ("pmml", "onnx", "xgboost"), "pmml,onnx,xgboost"
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
        engines, require = ("onnx",), "onnx"
    bundle = export_bundle(model, X, name="m", repo=tmp_path, require=require)
    _assert_engines_agree(bundle, model, _nan_rows(X), engines, 1e-5)


def test_xgboost_pmml_scores_a_missing_category_the_encoder_learned(tmp_path) -> None:
    """OneHotEncoder(handle_unknown='ignore') fitted on a column with None learns it as a category: a
    missing city is a known value (its indicator 1), not an unknown one. Tree predicates on city answer
    for it as the indicators do natively (the PMML was 0.06 off on such rows)."""
    import xgboost as xgb

    rng = np.random.default_rng(7)
    n = 600
    X = pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "income": rng.lognormal(10, 1, n),
                      "city": rng.choice(["Paris", "Lyon", "Nice", "Lille"], n)})
    X.loc[rng.random(n) < 0.1, "city"] = None
    y = X.age * 2 + (X.city == "Lyon") * 10 + X.city.isna() * 7
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough")
    model = make_pipeline(pre, xgb.XGBRegressor(n_estimators=30, max_depth=4, n_jobs=1)).fit(X, y)
    bundle = export_bundle(model, X, name="m", repo=tmp_path, require="pmml")
    assert bundle.manifest["pmml"]["missing_as_category"] == ["city"]
    rows = pd.concat([X.head(40), X.head(40).assign(city=np.nan), X.head(40).assign(city="Rome")], ignore_index=True)
    native = model.predict(rows)
    assert np.abs(native[40:80] - native[:40]).max() > 1.0  # a missing city matters
    assert np.abs(native[40:80] - native[80:]).max() > 1.0  # and is not scored like an unseen one
    _assert_engines_agree(bundle, model, rows, ("pmml", "onnx"), 1e-5)
