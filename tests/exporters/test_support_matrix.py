"""The support matrix: every supported step and estimator exports to PMML and ONNX and passes fidelity,
including the NaN, None and unseen-category rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exporters import export_bundle
from exporters.fidelity import UNSEEN_PREFIX
from exporters.support_matrix import ESTIMATORS, RECIPES, Case, cases, train
from scorebridge.engines import load_engine

CASES = cases()
STEPS = ("SimpleImputer", "StandardScaler", "MinMaxScaler", "OneHotEncoder", "OrdinalEncoder", "PCA")


def test_matrix_covers_every_step_and_estimator_in_both_compositions() -> None:
    for composition in ("ColumnTransformer", "DataFrameMapper"):
        chosen = [c for c in CASES if c.composition == composition]
        assert {c.estimator for c in chosen} == set(ESTIMATORS)
        for step in STEPS:
            assert any(step in c.steps for c in chosen), (composition, step)
        assert {c.wrapper for c in chosen} == {"Pipeline", "PMMLPipeline"}
    assert {c.recipe for c in CASES} == set(RECIPES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_exports_both_formats_within_tolerance(case: Case, tmp_path) -> None:
    pipeline, sample = train(case)
    bundle = export_bundle(pipeline, sample, name="m", repo=tmp_path, target="y")
    manifest = bundle.manifest
    fast_path = {"xgboost_preprocess", "xgboost_booster"} if manifest["model_family"] == "xgboost" else set()
    assert set(manifest["artifacts"]) == {"pmml", "onnx", "verification", "native"} | fast_path
    fidelity = manifest["fidelity"]
    for artifact in ("pmml", "onnx", *(["xgboost"] if fast_path else [])):
        report = fidelity[artifact]
        assert report["passed"] and report["gating"], report
        assert report["max_abs_diff" if case.task == "classification" else "max_rel_diff"] <= report["tolerance"]
        if case.task == "classification":
            assert report["label_mismatches_beyond_margin"] == 0
    assert fidelity["pypmml"]["gating"] is False and "rows" in fidelity["pypmml"]

    # the verification set holds the edge rows the fidelity above was measured on
    verify = bundle.read_verification()
    assert fidelity["onnx"]["rows"] == len(verify) == 200 + 3 + 2 * 2
    for column in ("x1", "x2", "x3"):
        assert verify[column].isna().any()
    for column in ("c1", "c2"):
        assert verify[column].isna().any()
        assert (verify[column] == f"{UNSEEN_PREFIX}{column}").sum() == 1


def test_missing_values_route_like_native_not_like_zero(tiny_bundle_dir, tiny_pipeline) -> None:
    """A NaN reaching XGBoost takes its learned default direction in both artifacts (not 0, not the mean)."""
    pipeline, sample = tiny_pipeline
    rows = sample.head(50).copy()
    missing = pd.Series(np.nan, index=rows.index, dtype=object)  # what the native pipeline is given
    rows["x1"] = np.nan
    rows["c1"] = missing  # imputed to "missing", then one-hot
    rows["c2"] = pd.Series(None, index=rows.index, dtype=object)  # no imputer: scores like unseen
    native = pipeline.predict_proba(rows.assign(c2=missing))
    zero = pipeline.predict_proba(rows.assign(x1=0.0, c2=missing))
    assert np.abs(native - zero).max() > 1e-3, "the case must make missing matter"
    for engine in ("onnx", "pmml"):
        got = load_engine(tiny_bundle_dir, engine).predict(rows).probabilities
        np.testing.assert_allclose(got, native, atol=1e-6, rtol=0)


def test_ordinal_encoder_missing_and_unseen_agree(tmp_path) -> None:
    """OrdinalEncoder(unknown_value=-1) without an imputer: missing and unseen both encode as -1."""
    case = Case("XGBRegressor", "DataFrameMapper", "PMMLPipeline", "impute_minmax_ordinal")
    pipeline, sample = train(case)
    bundle = export_bundle(pipeline, sample, name="ordinal", repo=tmp_path, target="y")
    assert "c2" in bundle.manifest["pmml"]["missing_as_unseen"]
    rows = sample.head(20).assign(c2=pd.Series([None, "__never__"] * 10, dtype=object))
    native = pipeline.predict(rows.assign(c2=rows["c2"].where(rows["c2"].notna(), np.nan)))
    for engine in ("onnx", "pmml"):
        got = load_engine(bundle, engine).predict(rows).values
        np.testing.assert_allclose(got, native, rtol=1e-6, atol=0)
