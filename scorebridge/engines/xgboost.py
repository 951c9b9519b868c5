"""XGBoost fast path: ONNX preprocessing, then the booster itself (``inplace_predict``).

ONNX Runtime's tree-ensemble kernel costs about twice XGBoost's own predictor per row, which
matters for nightly batches of millions of rows. XGBoost bundles therefore also carry the
preprocessing alone as ONNX (``preprocess.onnx``) and the booster in XGBoost's UBJSON model format
(``model.ubj``): both are data, not pickles, so this engine needs no trust. The booster sees
exactly the float32 features it saw in training, so its results are the native pipeline's.
"""

from __future__ import annotations

import logging
import os
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

    def predict_columns(self, columns: Columns) -> Prediction:
        features = self.session.run([self._output], self.feeds(columns))[0]
        raw = self.booster.inplace_predict(np.asarray(features, dtype=np.float32), validate_features=False)
        if not self.bundle.is_classifier:
            return Prediction.regression(raw)
        proba = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        return Prediction.classification(self.classes, proba)

    def describe(self) -> str:
        return f"xgboost {self._version} + onnxruntime"
