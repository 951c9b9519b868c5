"""Coverage: one or more pipelines per family (linear, trees, XGBoost, LightGBM, others, transformers,
compositions, shapes) export with the artifacts their converters produce faithfully, and every shipped
artifact agrees with the native pipeline on the clean rows, the rows with a missing value and the
rows with an unseen category (``exporters/support_cases.py``; the whole list is measured by
``benchmarks/support_matrix.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import export_bundle
from exporters.fidelity import UNSEEN_PREFIX
from exporters.support_cases import Coverage, coverage_cases, train
from exporters.support_matrix import agreement_by_kind

CASES = [c for c in coverage_cases() if c.test]
# Precision targets (issue 16): ONNX linear models compute in float64, trees in float32 like natively
ONNX_TARGETS = {"linear": 1e-12, "tree": 1e-6, "forest": 1e-6, "gbdt": 1e-6, "hist_gbdt": 1e-6,
                "xgboost": 1e-5, "lightgbm": 1e-5}


def test_every_family_is_tested() -> None:
    groups = {c.group for c in coverage_cases()}
    assert groups == {c.group for c in CASES}
    assert len(coverage_cases()) >= 120 - 26  # with the 26 compositions of exporters.support_matrix


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ships_its_artifacts_faithful_on_missing_and_unseen_rows(case: Coverage, tmp_path) -> None:
    pipeline, sample = train(case)
    bundle = export_bundle(pipeline, sample, name="m", repo=tmp_path, target="y")
    manifest = bundle.manifest
    shipped = [f for f in ("pmml", "onnx", "xgboost") if f in manifest and f not in manifest["excluded"]]
    assert set(case.ships) <= set(shipped), manifest["excluded"]
    assert manifest["task"] == case.task
    if case.inputs == "numpy":  # inputs named as scikit-learn names them, and the user told so
        assert bundle.schema.names == ["x0", "x1", "x2"] and "x0" in manifest["notes"][0]
    if case.id == "gradient-boosting-multiclass-missing-category":
        # c1's imputer learned "missing" as a category (c1 had NaN in training), c2's never saw one: only
        # c2's missing value is scored like an unseen category, so only c2 gets the PMML fix
        assert manifest["pmml"]["missing_as_unseen"] == ["c2"]
    if case.inputs == "odd_names" and "onnx" in shipped:  # each field fed to the graph's own input name
        inputs = {i["field"]: i["name"] for i in manifest["onnx"]["inputs"]}
        assert set(inputs) == set(bundle.schema.names) and inputs["rate (%)"] != "rate (%)"

    verify = bundle.read_verification()
    for field in bundle.schema.fields:  # the edge rows the agreement below is measured on
        if field.nullable:
            assert verify[field.name].isna().any(), field.name
        if field.optype == "categorical" and not field.is_numeric:
            assert (verify[field.name] == f"{UNSEEN_PREFIX}{field.name}").sum() == 1

    tolerance = manifest["tolerance"]["value"]
    for fmt in shipped:
        groups = agreement_by_kind(bundle, fmt)
        assert "clean" in groups and ("missing" in groups or not any(f.nullable for f in bundle.schema.fields))
        for group, result in groups.items():
            assert result["max_diff"] <= tolerance, (fmt, group, result)
            assert result.get("labels", 1.0) == 1.0, (fmt, group, result)
        target = ONNX_TARGETS.get(manifest["model_family"])
        if fmt == "onnx" and target is not None:
            assert max(r["max_diff"] for r in groups.values()) <= target, (groups, target)


def test_missing_rows_differ_from_clean_ones_where_the_model_routes_them(tmp_path) -> None:
    """The tree on raw columns routes NaN its own way: a missing value changes its predictions (so the
    agreement on missing rows above is not vacuous) and ONNX follows scikit-learn's learned direction."""
    case = next(c for c in CASES if c.id == "decision-tree-raw")
    pipeline, sample = train(case)
    rows = sample.head(60).copy()
    native = pipeline.predict_proba(rows.assign(x1=np.nan))
    assert np.abs(native - pipeline.predict_proba(rows.assign(x1=0.0))).max() > 0.1
    bundle = export_bundle(pipeline, sample, name="tree", repo=tmp_path, formats="onnx")
    from scorebridge.engines import load_engine

    got = load_engine(bundle, "onnx").predict(rows.assign(x1=np.nan)).probabilities
    np.testing.assert_allclose(got, native, atol=1e-6, rtol=0)
