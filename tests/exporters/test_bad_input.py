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
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler

from exporters import export_bundle
from exporters.support_matrix import make_data
from scorebridge.bundle import Bundle
from scorebridge.engines.native import load_pickle
from scorebridge.errors import BundleIntegrityError, EngineError, SchemaError, UnsupportedPipelineError

ROOT = Path(__file__).resolve().parents[2]


def _fit(categorical, numeric="passthrough", estimator=None):
    from xgboost import XGBClassifier

    frame, target = make_data("classification")
    pre = ColumnTransformer([("num", numeric, ["x1", "x2", "x3"]), ("cat", categorical, ["c1", "c2"])])
    model = estimator or XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1)
    return Pipeline([("pre", pre), ("model", model)]).fit(frame, target), frame


def _imputed(encoder):
    return Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")), ("encode", encoder)])


UNSUPPORTED = {
    "onehot-error": (lambda: _fit(_imputed(OneHotEncoder(handle_unknown="error"))),
                     ["'pre' > 'cat' > 'encode' (OneHotEncoder)", "use handle_unknown='ignore'"]),
    "onehot-learned-missing": (lambda: _fit(OneHotEncoder(handle_unknown="ignore")),
                               ["'cat' (OneHotEncoder)", "put SimpleImputer(strategy='constant'"]),
    "ordinal-error": (lambda: _fit(_imputed(OrdinalEncoder())),
                      ["(OrdinalEncoder)", "handle_unknown='use_encoded_value', unknown_value=-1"]),
    "robust-scaler": (lambda: _fit(_imputed(OneHotEncoder(handle_unknown="ignore")), numeric=Pipeline(
        [("i", SimpleImputer()), ("robust", RobustScaler())])), ["'robust' (RobustScaler)", "use one of"]),
    "svc": (lambda: _fit(_imputed(OneHotEncoder(handle_unknown="ignore")), numeric=SimpleImputer(),
                         estimator=__import__("sklearn.svm", fromlist=["SVC"]).SVC()),
            ["'model' (SVC)", "XGBClassifier"]),
}


@pytest.mark.parametrize("kind", UNSUPPORTED)
def test_unsupported_step_names_it_and_the_fix(kind, tmp_path) -> None:
    build, expected = UNSUPPORTED[kind]
    pipeline, sample = build()
    with pytest.raises(UnsupportedPipelineError) as info:
        export_bundle(pipeline, sample, name="bad", repo=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for text in expected:
        assert text in message, message
    assert list(tmp_path.iterdir()) == []


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


def test_no_java_is_one_line_and_leaves_nothing(pickled_tiny, tmp_path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    pipeline, sample = pickled_tiny
    env = _env(JAVA_HOME=str(tmp_path / "nowhere"), PATH=str(empty))
    out = _cli(["export", str(pipeline), "--sample", str(sample), "--name", "nojava", "--repo",
                str(tmp_path / "repo")], env, tmp_path)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "no Java runtime found" in lines[0] and "JAVA_HOME" in lines[0]
    assert not (tmp_path / "repo" / "nojava").exists()


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
