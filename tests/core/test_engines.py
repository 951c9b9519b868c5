"""Every engine against the native pipeline on every sample bundle's verification rows
(sample rows plus NaN, missing-category and unseen-category rows)."""

from __future__ import annotations

import numpy as np
import pytest

from exporters.fidelity import compare, prediction_from_native_columns
from sample_models import SAMPLES
from scorebridge.bundle import Bundle
from scorebridge.engines import load_engine
from scorebridge.errors import EngineError, UntrustedPickleError


@pytest.fixture(scope="module", params=SAMPLES)
def bundle(request, sample_repo):
    return Bundle.load(sample_repo / request.param)


@pytest.fixture(scope="module", params=[name for name in SAMPLES if name != "wine_class"])
def xgboost_bundle(request, sample_repo):
    """The XGBoost samples (wine_class is a LogisticRegression), which carry the xgboost engine's artifacts."""
    bundle = Bundle.load(sample_repo / request.param)
    assert bundle.has_artifact("xgboost_booster") and bundle.has_artifact("xgboost_preprocess")
    return bundle


@pytest.mark.parametrize("engine", ["onnx", "pmml", "native"])
def test_engine_agrees_with_native(bundle, engine):
    _agrees_with_native(bundle, engine)


def test_xgboost_engine_agrees_with_native(xgboost_bundle):
    _agrees_with_native(xgboost_bundle, "xgboost")


def _agrees_with_native(bundle: Bundle, engine: str) -> None:
    frame = bundle.read_verification()
    native = prediction_from_native_columns(frame, bundle.task, bundle.classes)
    scored = load_engine(bundle, engine, trust_pickles=True).predict(frame)
    report = compare(scored, native, bundle.manifest["tolerance"]["value"])
    assert report["passed"], report
    assert report["rows"] == len(frame) > 0
    if engine == "native":
        assert report["max_abs_diff"] == 0.0
    if bundle.task == "classification":
        assert report["label_mismatches_beyond_margin"] == 0


def test_prediction_shapes(bundle):
    engine = load_engine(bundle, "onnx")
    frame = bundle.read_verification().head(3)
    pred = engine.predict(frame)
    out = pred.to_frame()
    assert list(out.columns) == bundle.output_columns
    records = pred.to_records()
    if bundle.task == "classification":
        assert set(records[0]) == {"label", "probabilities"}
        assert records[0]["label"] in bundle.classes
        assert np.isclose(sum(records[0]["probabilities"].values()), 1.0, atol=1e-5)
    else:
        assert isinstance(records[0]["prediction"], float)


def test_native_refuses_without_trust(sample_repo):
    with pytest.raises(UntrustedPickleError, match="trust"):
        load_engine(sample_repo / "credit_risk", "native")


def test_unknown_engine(sample_repo):
    with pytest.raises(EngineError, match="unknown engine 'tensorflow'"):
        load_engine(sample_repo / "credit_risk", "tensorflow")


def _booster_features(bundle: Bundle) -> np.ndarray:
    """The verification rows as the booster sees them: the output of the bundle's ``preprocess.onnx``."""
    engine = load_engine(bundle, "xgboost")
    columns = bundle.schema.from_frame(bundle.read_verification())
    return engine.session.run([engine._output], engine.feeds(columns))[0]


@pytest.mark.parametrize("name", ["credit_risk", "diabetes_progression"])
def test_direct_booster_call_gives_inplace_predicts_results(sample_repo, name):
    """The xgboost engine calls XGBoost's C API itself; its results are ``inplace_predict``'s, bit for bit."""
    import xgboost

    from scorebridge.engines.xgboost import dense_predictor

    bundle = Bundle.load(sample_repo / name)
    features = _booster_features(bundle)
    features[::5, 0] = np.nan  # missing values (diabetes' pipeline imputes its own before the booster)
    booster = xgboost.Booster(model_file=str(bundle.artifact_path("xgboost_booster")))
    predict = dense_predictor(booster)
    assert predict.__name__ == "direct"  # the installed XGBoost passed the load-time probe
    expected = booster.inplace_predict(features, validate_features=False)
    for rows in (features, features[:1], features[::2]):  # every other row: not contiguous
        got = predict(rows)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, booster.inplace_predict(np.ascontiguousarray(rows),
                                                                   validate_features=False))
    np.testing.assert_array_equal(predict(features), expected)
    assert predict(features[:0]).shape == booster.inplace_predict(features[:0], validate_features=False).shape


def test_direct_booster_call_from_concurrent_threads(credit_bundle):
    """A server worker's request threads share one booster: each call gets its own rows' results
    (XGBoost keeps a result buffer per calling thread, copied out before the next call)."""
    from concurrent.futures import ThreadPoolExecutor

    import xgboost

    from scorebridge.engines.xgboost import dense_predictor

    booster = xgboost.Booster(model_file=str(credit_bundle.artifact_path("xgboost_booster")))
    booster.set_param({"nthread": 2})
    predict = dense_predictor(booster)
    features = _booster_features(credit_bundle)
    slices = [features[i::4] for i in range(4)]
    expected = [booster.inplace_predict(np.ascontiguousarray(x), validate_features=False) for x in slices]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(50):
            for got, want in zip(pool.map(predict, slices), expected):
                np.testing.assert_array_equal(got, want)


def test_direct_booster_call_multiclass_and_errors():
    import xgboost

    from scorebridge.engines.xgboost import dense_predictor

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1},
                            xgboost.DMatrix(x, label=rng.integers(0, 3, 200)), num_boost_round=5)
    predict = dense_predictor(booster)
    assert predict.__name__ == "direct"
    got = predict(x)
    assert got.shape == (200, 3)
    np.testing.assert_array_equal(got, booster.inplace_predict(x))
    with pytest.raises(EngineError, match=r"^XGBoost prediction failed: .*3 vs\. 4[^\n]*$"):
        predict(x[:, :3])


def test_direct_booster_call_falls_back_to_the_wrapper(credit_bundle, monkeypatch):
    """An XGBoost whose library lacks the C function gets ``inplace_predict``, with the same results."""
    import xgboost
    import xgboost.core

    from scorebridge.engines.xgboost import dense_predictor

    booster = xgboost.Booster(model_file=str(credit_bundle.artifact_path("xgboost_booster")))
    with monkeypatch.context() as patch:
        patch.setattr(xgboost.core, "_LIB", object())
        predict = dense_predictor(booster)
    assert predict.__name__ == "wrapper"
    features = _booster_features(credit_bundle)
    np.testing.assert_array_equal(predict(features), booster.inplace_predict(features, validate_features=False))
