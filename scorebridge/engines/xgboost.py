"""XGBoost fast path: ONNX preprocessing, then the booster itself (XGBoost's own predictor).

ONNX Runtime's tree-ensemble kernel costs about twice XGBoost's own predictor per row, which
matters for nightly batches of millions of rows. XGBoost bundles therefore also carry the
preprocessing alone as ONNX (``preprocess.onnx``) and the booster in XGBoost's UBJSON model format
(``model.ubj``): both are data, not pickles, so this engine needs no trust. The booster sees
exactly the float32 features it saw in training, so its results are the native pipeline's.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.engines.onnx import OnnxFeeds, onnx_session
from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns

log = logging.getLogger(__name__)


def available(bundle: Bundle) -> bool:
    """Whether ``bundle`` has the fast-path artifacts and the ``xgboost`` module is installed."""
    if not (bundle.has_artifact("xgboost_booster") and bundle.has_artifact("xgboost_preprocess")):
        return False
    try:
        import xgboost  # noqa: F401
    except ImportError:
        return False
    return True


def dense_predictor(booster: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``booster.inplace_predict(x, validate_features=False)`` for a float32 matrix ``x``, through
    XGBoost's C API with the call's arguments built once.

    The Python wrapper spends about 0.15 ms per call before and after the C call (dispatch over a
    dozen input kinds, JSON arguments built with ``json.dumps``, a class defined per call to wrap the
    result): more than the trees take for a small request. ``XGBoosterPredictFromDense`` is part of
    XGBoost's public C API (since 1.4). The direct call is used only after it gave the wrapper's
    results bit for bit on a probe matrix; else, or on an XGBoost without it, the wrapper is returned.
    """
    def wrapper(x: np.ndarray) -> np.ndarray:
        return booster.inplace_predict(np.asarray(x, dtype=np.float32), validate_features=False)

    try:
        import xgboost
        from xgboost.core import _LIB

        c_predict = _LIB.XGBoosterPredictFromDense
        c_error = _LIB.XGBGetLastError
    except (ImportError, AttributeError):
        return wrapper
    c_error.restype = ctypes.c_char_p
    # what the wrapper passes for its defaults: all trees, values (not margins), NaN is missing
    config = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                         "missing": float("nan"), "strict_shape": False, "cache_id": 0}).encode()

    def direct(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)  # what the interface below describes
        rows, cols = x.shape
        if not rows:  # XGBoost shapes an empty result (0, 0); the wrapper knows what the model gives
            return wrapper(x)
        shape, dims = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        interface = b'{"data":[%d,true],"shape":[%d,%d],"strides":null,"typestr":"<f4","version":3}' % (
            x.ctypes.data, rows, cols)
        if c_predict(booster.handle, interface, config, None, ctypes.byref(shape), ctypes.byref(dims),
                     ctypes.byref(result)) != 0:
            reason = (c_error() or b"").decode(errors="replace").strip().splitlines() or ["no reason given"]
            raise EngineError(f"XGBoost prediction failed: {reason[0]}")  # the rest is a C++ stack trace
        # the result lives in a buffer XGBoost reuses on this thread's next call: copy it out now
        out = np.empty([shape[i] for i in range(dims.value)], dtype=np.float32)
        ctypes.memmove(out.ctypes.data, result, out.nbytes)
        return out

    # random values, NaN, 0 and 1 (one-hot columns), in every column
    probe = np.random.default_rng(0).normal(size=(64, booster.num_features())).astype(np.float32)
    probe[::7] = np.nan
    probe[1::7] = 0.0
    probe[2::7] = 1.0
    try:
        agrees = np.array_equal(direct(probe), wrapper(probe), equal_nan=True)
    except Exception:  # an XGBoost whose C API differs: the wrapper knows it
        log.debug("XGBoost's C API call failed on the probe", exc_info=True)
        agrees = False
    if not agrees:
        log.info("XGBoost %s: scoring through inplace_predict (the direct C call did not match it)",
                 xgboost.__version__)
        return wrapper
    return direct


class XgboostEngine(Engine):
    """Scores an XGBoost bundle with ONNX Runtime preprocessing and the native booster."""

    name = "xgboost"
    artifact = "xgboost_booster"

    def __init__(self, bundle: Bundle, *, threads: int | None = 1, spin: bool = True, **_: Any) -> None:
        super().__init__(bundle)
        spec = bundle.manifest.get("xgboost")
        if not spec or not bundle.has_artifact("xgboost_booster"):
            raise EngineError(f"bundle {bundle} has no XGBoost fast path (only XGBoost pipelines exported by "
                              "scorebridge >= 0.1 carry model.ubj): use --engine onnx")
        try:
            import xgboost
        except ImportError as exc:
            raise EngineError("the xgboost engine needs XGBoost: pip install 'scorebridge[xgboost]'") from exc
        self.session = onnx_session(bundle.artifact_path("xgboost_preprocess"), threads=threads, spin=spin)
        self.feeds = OnnxFeeds(spec["inputs"], spec.get("missing_string", ""))
        self._output = spec["output"]
        self.booster = xgboost.Booster()
        self.booster.load_model(bytearray(bundle.artifact_path("xgboost_booster").read_bytes()))
        self.booster.set_param({"nthread": threads or 0})
        cap = os.environ.get("OMP_NUM_THREADS", "")
        if threads and cap.isdigit() and 0 < int(cap) < threads:
            # XGBoost's OpenMP honours the environment's cap over nthread
            log.warning("OMP_NUM_THREADS=%s caps XGBoost at %s thread(s), not the %d asked for: unset it or "
                        "raise it for the XGBoost fast path", cap, cap, threads)
        self._version = xgboost.__version__
        self._predict = dense_predictor(self.booster)

    def predict_columns(self, columns: Columns) -> Prediction:
        features = self.session.run([self._output], self.feeds(columns))[0]
        raw = self._predict(features)
        if not self.bundle.is_classifier:
            return Prediction.regression(raw)
        proba = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        return Prediction.classification(self.classes, proba)

    def describe(self) -> str:
        return f"xgboost {self._version} + onnxruntime"
