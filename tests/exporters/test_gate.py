"""Each artifact is converted and gated on its own: real sklearn2pmml (JVM), skl2onnx and fidelity runs.

The pipelines are picked for what the converters themselves refuse: sklearn2pmml's ``ContinuousDomain``
has no skl2onnx converter, and sklearn2pmml does not support ``GaussianRandomProjection``, which
skl2onnx converts.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.random_projection import GaussianRandomProjection

from exporters import export_bundle
from exporters.support_matrix import Case, make_data, train
from scorebridge.bundle import Bundle, current_umask
from scorebridge.engines import load_engine
from scorebridge.errors import ExportError, FidelityError, ScorebridgeError, UnsupportedPipelineError


def _projection_pipeline(domain: bool = False):
    """GaussianRandomProjection (no sklearn2pmml support) before a logistic regression; with
    ``domain``, also a ContinuousDomain in front (no skl2onnx support): nothing converts."""
    frame, target = make_data("classification")
    inputs = frame[["x1", "x2", "x3"]].astype(float)
    steps = [("impute", SimpleImputer()), ("proj", GaussianRandomProjection(n_components=2, random_state=0)),
             ("model", LogisticRegression())]
    if domain:
        from sklearn2pmml.decoration import ContinuousDomain

        steps.insert(0, ("domain", ContinuousDomain()))
    return Pipeline(steps).fit(inputs, target), inputs


def _model_files(bundle: Bundle) -> set[str]:
    data = {"manifest.json", "verification.parquet", "fidelity_rows.parquet", "model.joblib"}
    return {p.name for p in bundle.path.iterdir()} - data


def test_onnx_that_cannot_convert_is_left_out_and_pmml_ships(pmml_only_bundle, domain_case) -> None:
    bundle = Bundle.load(pmml_only_bundle.path)  # every listed artifact is there, with its digest
    manifest = bundle.manifest
    assert set(manifest["artifacts"]) == {"pmml", "verification", "native"}
    assert _model_files(bundle) == {"model.pmml"}
    assert "onnx" not in manifest and "xgboost" not in manifest["excluded"]  # no fast path for a linear model
    onnx = manifest["excluded"]["onnx"]
    assert onnx["reason"] == "conversion" and onnx["converter"] == "skl2onnx"
    assert onnx["step"] == "'domain' (ContinuousDomain)"
    assert "ContinuousDomain" in onnx["message"] and "\n" not in onnx["message"]
    assert manifest["fidelity"]["pmml"]["passed"] and "onnx" not in manifest["fidelity"]
    assert [f["name"] for f in manifest["inputs"]] == ["x1", "x2", "x3"]  # the sample's target column is ignored
    # what shipped scores like the native pipeline, missing values included
    pipeline, sample = domain_case
    rows = sample.drop(columns="y").head(30).copy()
    rows.loc[rows.index[::3], "x2"] = np.nan
    got = load_engine(bundle, "auto").predict(rows).probabilities
    np.testing.assert_allclose(got, pipeline.predict_proba(rows), atol=1e-12, rtol=0)


def test_bundle_modes_follow_the_umask(pmml_only_bundle) -> None:
    """0755 directories and 0644 files under the usual umask (mkdtemp alone would leave 0700)."""
    mask = current_umask()
    assert stat.S_IMODE(os.stat(pmml_only_bundle.path).st_mode) == 0o777 & ~mask
    for path in pmml_only_bundle.path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


@pytest.mark.parametrize("require", ["onnx", "pmml,onnx"])
def test_a_required_format_that_cannot_convert_writes_nothing(require, domain_case, tmp_path) -> None:
    pipeline, sample = domain_case
    with pytest.raises(ExportError) as info:
        export_bundle(pipeline, sample, name="m", repo=tmp_path, require=require, target="y")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("nothing was written: required artifact onnx could not be exported: ")
    assert "onnx: skl2onnx cannot convert 'domain' (ContinuousDomain): MissingShapeCalculator" in message
    assert "to fix: change that step to one the converter supports" in message
    assert info.value.excluded["onnx"]["reason"] == "conversion"
    assert list(tmp_path.iterdir()) == []


def test_pmml_that_cannot_convert_is_left_out_and_onnx_ships(tmp_path) -> None:
    pipeline, sample = _projection_pipeline()
    bundle = export_bundle(pipeline, sample, name="proj", repo=tmp_path, require="onnx")
    assert set(bundle.manifest["artifacts"]) == {"onnx", "verification", "native"}
    assert _model_files(bundle) == {"model.onnx"}
    pmml = bundle.manifest["excluded"]["pmml"]
    assert pmml["reason"] == "conversion" and pmml["converter"] == "sklearn2pmml"
    assert pmml["step"] == "'proj' (GaussianRandomProjection)"
    assert "is not a supported Transformer" in pmml["message"]
    assert set(bundle.manifest["fidelity"]) == {"onnx"} and bundle.manifest["fidelity"]["onnx"]["passed"]

    with pytest.raises(ExportError, match=r"required artifact pmml could not be exported: pmml: sklearn2pmml "
                                          r"cannot convert 'proj' \(GaussianRandomProjection\)"):
        export_bundle(pipeline, sample, name="proj", repo=tmp_path, require="pmml")
    assert [p.name for p in (tmp_path / "proj").iterdir()] == ["1"]  # the failed export added nothing


def test_no_faithful_artifact_fails_naming_each_format(tmp_path) -> None:
    pipeline, sample = _projection_pipeline(domain=True)
    with pytest.raises(ExportError) as info:
        export_bundle(pipeline, sample, name="none", repo=tmp_path)
    message = str(info.value)
    assert message.startswith("nothing was written: no artifact converted faithfully: ")
    assert "pmml: sklearn2pmml cannot convert 'proj' (GaussianRandomProjection)" in message
    assert "onnx: skl2onnx cannot convert 'domain' (ContinuousDomain)" in message
    assert "\n" not in message and list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def forest():
    """A random forest: PMML reproduces it exactly, ONNX to ~2e-7 (float32 leaves)."""
    return train(Case("RandomForestClassifier", "ColumnTransformer", "Pipeline", "impute_minmax_ordinal"))


def test_an_artifact_beyond_tolerance_is_left_out_with_its_measurement(forest, tmp_path) -> None:
    pipeline, sample = forest
    bundle = Bundle.load(export_bundle(pipeline, sample, name="rf", repo=tmp_path, tolerance=1e-9).path)
    manifest = bundle.manifest
    assert _model_files(bundle) == {"model.pmml"} and "onnx" not in manifest["artifacts"] and "onnx" not in manifest
    measured = manifest["fidelity"]["onnx"]  # the report keeps the failing evaluator's measurement
    assert measured["passed"] is False and measured["gating"] and measured["max_abs_diff"] > 1e-9
    assert manifest["fidelity"]["pmml"]["passed"] and manifest["fidelity"]["pmml"]["max_abs_diff"] <= 1e-9
    excluded = manifest["excluded"]["onnx"]
    assert excluded["reason"] == "fidelity" and excluded["evaluator"].startswith("onnxruntime")
    assert excluded["max_abs_diff"] == measured["max_abs_diff"] and excluded["tolerance"] == 1e-9
    assert excluded["rows_over_tolerance"] == measured["rows_over_tolerance"] > 0
    assert excluded["worst_rows"] and set(excluded["worst_rows"]) <= {"sample", "missing x1", "missing x2",
                                                                      "missing x3", "missing c1", "missing c2",
                                                                      "unseen c1", "unseen c2"}

    with pytest.raises(FidelityError) as info:
        export_bundle(pipeline, sample, name="rf", repo=tmp_path, tolerance=1e-9, require="onnx")
    message = str(info.value)
    assert "onnx: onnxruntime" in message and "disagrees with the native pipeline by" in message
    assert "tolerance 1e-09" in message and "raise the tolerance" in message
    assert "pmml passed: --require pmml (or any) exports without onnx" in message
    assert info.value.fidelity["onnx"]["max_abs_diff"] == pytest.approx(measured["max_abs_diff"])
    assert [p.name for p in (tmp_path / "rf").iterdir()] == ["1"]


def test_denylist_blocks_only_its_formats(tmp_path) -> None:
    """An imputer of a sentinel value: PMML treats it as missing; the ONNX graph would not."""
    frame, target = make_data("classification")
    inputs = frame[["x1", "x2", "x3"]].fillna(-1.0)
    pipeline = Pipeline([("impute", SimpleImputer(missing_values=-1.0)),
                         ("model", LogisticRegression())]).fit(inputs, target)
    with pytest.raises(UnsupportedPipelineError) as info:
        export_bundle(pipeline, inputs, name="sentinel", repo=tmp_path, require="onnx")
    assert "onnx: 'impute' (SimpleImputer) is on the denylist: missing_values=-1.0" in str(info.value)
    assert "use missing_values=np.nan" in str(info.value) and list(tmp_path.iterdir()) == []
    bundle = export_bundle(pipeline, inputs, name="sentinel", repo=tmp_path)
    assert bundle.manifest["excluded"]["onnx"] == {
        "reason": "denylist", "step": "'impute' (SimpleImputer)", "message": info.value.excluded["onnx"]["message"],
        "instead": info.value.excluded["onnx"]["instead"]}
    assert "pmml" in bundle.manifest["artifacts"] and bundle.manifest["fidelity"]["pmml"]["passed"]


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"require": "bogus"}, "require='bogus': use any, or a comma-separated list of pmml, onnx, xgboost"),
    ({"require": "onnx", "formats": "pmml"}, "require=onnx asks for onnx, which formats=pmml leaves out"),
    ({"formats": "pmml,tflite"}, "unknown format(s) tflite"),
])
def test_bad_formats_and_require_fail_before_any_work(kwargs, fragment, domain_case, tmp_path) -> None:
    pipeline, sample = domain_case
    with pytest.raises(ScorebridgeError) as info:
        export_bundle(pipeline, sample, name="m", repo=tmp_path, **kwargs)
    assert fragment in str(info.value)
    assert list(tmp_path.iterdir()) == []
