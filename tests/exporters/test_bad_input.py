"""Bad input gets one clear error and leaves no bundle behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from exporters import export_bundle
from exporters.support_matrix import make_data
from scorebridge.bundle import Bundle
from scorebridge.engines.native import load_pickle
from scorebridge.errors import BundleIntegrityError, EngineError, SchemaError

ROOT = Path(__file__).resolve().parents[2]


def _fit(categorical, numeric="passthrough", estimator=None):
    from xgboost import XGBClassifier

    frame, target = make_data("classification")
    pre = ColumnTransformer([("num", numeric, ["x1", "x2", "x3"]), ("cat", categorical, ["c1", "c2"])])
    model = estimator or XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1)
    return Pipeline([("pre", pre), ("model", model)]).fit(frame, target), frame


def _imputed(encoder):
    return Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")), ("encode", encoder)])


@pytest.mark.parametrize("encoder", [OneHotEncoder(handle_unknown="error"), OrdinalEncoder()],
                         ids=["onehot-error", "ordinal-error"])
def test_encoder_that_raises_on_unseen_categories_exports_strict_inputs(encoder, tmp_path) -> None:
    """A native pipeline that raises on an unseen category exports; its inputs are strict (the schema
    refuses another value by name) and the gate verifies the rows the model accepts: the sample and
    the missing values it can impute, but no unseen categories."""
    pipeline, sample = _fit(_imputed(encoder))
    bundle = export_bundle(pipeline, sample, name="strict", repo=tmp_path)
    inputs = {f["name"]: f for f in bundle.manifest["inputs"]}
    for name in ("c1", "c2"):
        # a missing value is imputed to "missing": a category only where the sample had one to fill
        assert inputs[name]["strict"] is True and inputs[name]["nullable"] is bool(sample[name].isna().any())
        # the encoder's categories: the sample's, plus the imputer's fill value where it filled one
        filled = ["missing"] if sample[name].isna().any() else []
        assert inputs[name]["categories"] == sorted(sample[name].dropna().unique().tolist() + filled)
    report = bundle.manifest["fidelity"]["onnx"]
    nullable = sum(f["nullable"] for f in inputs.values())
    assert report["passed"] and report["rows"] == 200 + nullable  # sample rows + a missing row per nullable input
    with pytest.raises(SchemaError) as err:
        bundle.schema.from_frame(sample.head(3).assign(c1=[None, "zzz", None]))  # c1 is nullable: None is fine
    assert (err.value.code, err.value.field, err.value.record) == ("unknown_category", "c1", 1)


def test_sample_missing_a_column(tiny_pipeline, tmp_path) -> None:
    pipeline, sample = tiny_pipeline
    with pytest.raises(SchemaError, match="lacks column.*'c2'"):
        export_bundle(pipeline, sample.drop(columns="c2"), name="bad", repo=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_sample_with_wrong_type(tiny_pipeline, tmp_path) -> None:
    pipeline, sample = tiny_pipeline
    bad = sample.copy()
    bad["c1"] = bad["c1"].astype(object)
    bad.loc[3, "c1"] = 7
    with pytest.raises(SchemaError, match="'c1' mixes strings with int"):
        export_bundle(pipeline, bad, name="bad", repo=tmp_path)
    assert list(tmp_path.iterdir()) == []


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scorebridge", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return {**env, **extra}


@pytest.fixture
def pickled_tiny(tiny_pipeline, tmp_path) -> tuple[Path, Path]:
    import joblib

    pipeline, sample = tiny_pipeline
    joblib.dump(pipeline, tmp_path / "p.joblib")
    sample.to_parquet(tmp_path / "s.parquet")
    return tmp_path / "p.joblib", tmp_path / "s.parquet"


def test_no_java_leaves_pmml_out_or_fails_in_one_line_when_required(pickled_tiny, tmp_path) -> None:
    """Without a JVM sklearn2pmml cannot run: the default export ships ONNX and says why PMML is
    absent; ``--require pmml`` fails before any work, in one line, and writes nothing."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    pipeline, sample = pickled_tiny
    env = _env(JAVA_HOME=str(tmp_path / "nowhere"), PATH=str(empty))
    out = _cli(["export", str(pipeline), "--sample", str(sample), "--name", "nojava", "--repo",
                str(tmp_path / "repo"), "--require", "pmml"], env, tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "no Java runtime found" in lines[0] and "JAVA_HOME" in lines[0] and "nothing was written" in lines[0]
    assert not (tmp_path / "repo" / "nojava").exists()

    out = _cli(["export", str(pipeline), "--sample", str(sample), "--name", "nojava", "--repo",
                str(tmp_path / "repo")], env, tmp_path)
    assert out.returncode == 0, out.stderr
    manifest = Bundle.load(tmp_path / "repo" / "nojava").manifest
    assert {"onnx", "xgboost_booster"} <= set(manifest["artifacts"]) and "pmml" not in manifest["artifacts"]
    assert manifest["excluded"]["pmml"]["reason"] == "unavailable"
    assert "no Java runtime found" in manifest["excluded"]["pmml"]["message"]
    assert "pmml: no Java runtime found" in out.stdout  # the report says why PMML is absent


def test_tampered_artifact_is_refused(tiny_bundle_dir, tmp_path) -> None:
    copy = tmp_path / "tiny" / "1"
    shutil.copytree(tiny_bundle_dir, copy)
    onnx_file = copy / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="model.onnx: sha256 mismatch"):
        Bundle.load(copy)
    Bundle.load(tiny_bundle_dir)  # the original still loads


def test_unreadable_pickle(tmp_path) -> None:
    bad = tmp_path / "broken.joblib"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(EngineError, match="cannot unpickle the pipeline") as info:
        load_pickle(bad)
    assert "\n" not in str(info.value)


def test_pickled_dataframe_mapper_pipeline_loads_and_exports_in_a_fresh_process(tmp_path) -> None:
    """Pickle a PMMLPipeline(DataFrameMapper, XGBRegressor) in one process; in a fresh one (nothing
    imported), load it through ``load_pickle`` (the sklearn-pandas shim) and export both formats."""
    build = textwrap.dedent("""
        import sys, joblib
        from exporters.support_matrix import Case, train
        pipeline, sample = train(Case("XGBRegressor", "DataFrameMapper", "PMMLPipeline", "raw_onehot"))
        joblib.dump(pipeline, sys.argv[1])
        sample.to_parquet(sys.argv[2])
    """)
    pickle, sample = tmp_path / "mapper.joblib", tmp_path / "sample.parquet"
    subprocess.run([sys.executable, "-c", build, str(pickle), str(sample)], env=_env(PATH=os.environ["PATH"]),
                   cwd=tmp_path, check=True, timeout=300)
    check = textwrap.dedent("""
        import sys
        assert "sklearn_pandas" not in sys.modules
        import pandas as pd
        from scorebridge.engines.native import load_pickle
        pipeline = load_pickle(sys.argv[1])
        assert type(pipeline.steps[0][1]).__name__ == "DataFrameMapper"
        from exporters import export_bundle
        bundle = export_bundle(pipeline, pd.read_parquet(sys.argv[2]), name="mapper", repo=sys.argv[3],
                               target="y")
        print(bundle.manifest["fidelity"]["pmml"]["passed"], bundle.manifest["fidelity"]["onnx"]["passed"])
    """)
    out = subprocess.run([sys.executable, "-c", check, str(pickle), str(sample), str(tmp_path / "repo")],
                         env=_env(PATH=os.environ["PATH"]), cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]
    assert (tmp_path / "repo" / "mapper" / "1" / "model.onnx").is_file()


def test_nan_free_numeric_field_is_not_nullable_when_native_rejects_missing(tmp_path) -> None:
    """A pipeline that raises on a missing value records ``nullable: false`` (no NaN edge row)."""
    from sklearn.linear_model import LogisticRegression

    frame, target = make_data("classification")
    frame = frame.fillna({"x1": 0.0, "x2": 0.0})
    pre = ColumnTransformer([("num", "passthrough", ["x1", "x2", "x3"]),
                             ("cat", _imputed(OneHotEncoder(handle_unknown="ignore")), ["c1", "c2"])])
    pipeline = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))]).fit(frame, target)
    bundle = export_bundle(pipeline, frame, name="strict", repo=tmp_path, formats=("onnx",))
    nullable = {f["name"]: f["nullable"] for f in bundle.manifest["inputs"]}
    assert nullable == {"x1": False, "x2": False, "x3": False, "c1": True, "c2": True}
    assert not np.isnan(bundle.read_verification()[["x1", "x2", "x3"]].to_numpy(float)).any()


def _boundary_case(kind: str):
    """``(object to pickle, sample, extra CLI args)`` for one user error at the export boundary."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    frame, target = make_data("classification")
    numeric = frame[["x1", "x2", "x3"]]
    filled = numeric.fillna(0.0)
    if kind == "nan-where-the-model-cannot-take-it":
        return LogisticRegression().fit(filled, target), numeric, []
    if kind == "unfitted":
        return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]), filled, []
    if kind == "target-left-in-a-numpy-fitted-sample":
        return LogisticRegression().fit(filled.to_numpy(), target), filled.assign(y=target), ["--target", "y"]
    if kind == "target-is-an-input":
        with_y = filled.assign(y=target)
        return LogisticRegression().fit(with_y, target), with_y, ["--target", "y"]
    if kind == "not-an-estimator":
        return {"weights": [1, 2, 3]}, filled, []
    if kind == "required-onnx-that-cannot-convert":
        from sklearn2pmml.decoration import ContinuousDomain

        inputs = numeric.astype(float)
        pipeline = Pipeline([("domain", ContinuousDomain()), ("impute", SimpleImputer()),
                             ("model", LogisticRegression())]).fit(inputs, target)
        return pipeline, inputs, ["--require", "onnx"]
    raise ValueError(kind)


BOUNDARY = {
    "nan-where-the-model-cannot-take-it": ["the sample has missing values in x1 (", "), x2 (",
                                           "its LogisticRegression raises on a missing value there",
                                           "add an imputer"],
    "unfitted": ["the Pipeline is not fitted: call fit(X, y) on it before exporting"],
    "target-left-in-a-numpy-fitted-sample": ["the sample has 4 columns but the pipeline was fitted on 3 unnamed "
                                             "features (is the target column 'y' still in it?)"],
    "target-is-an-input": ["'y' is both the target and an input the pipeline was fitted on"],
    "not-an-estimator": ["cannot export a dict: pass a fitted scikit-learn Pipeline or estimator"],
    "required-onnx-that-cannot-convert": ["nothing was written: required artifact onnx could not be exported: "
                                          "onnx: skl2onnx cannot convert 'domain' (ContinuousDomain): "
                                          "MissingShapeCalculator"],
}


@pytest.mark.parametrize("kind", BOUNDARY)
def test_user_errors_are_one_line_and_exit_2(kind, tmp_path) -> None:
    import joblib

    obj, sample, args = _boundary_case(kind)
    joblib.dump(obj, tmp_path / "p.joblib")
    sample.to_parquet(tmp_path / "s.parquet")
    out = _cli(["export", str(tmp_path / "p.joblib"), "--sample", str(tmp_path / "s.parquet"), "--name", "m",
                "--repo", str(tmp_path / "repo"), *args], _env(PATH=os.environ["PATH"]), tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scorebridge: error: "), out.stderr
    for fragment in BOUNDARY[kind]:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "repo" / "m").exists()
