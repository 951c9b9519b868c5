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


@pytest.mark.parametrize("engine", ["onnx", "pmml", "native"])
def test_engine_agrees_with_native(bundle, engine):
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
