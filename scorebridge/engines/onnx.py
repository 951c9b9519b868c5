"""ONNX Runtime engine: the default for serving and batch scoring."""

from __future__ import annotations

from typing import Any

import numpy as np

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns

_NP_TYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}


class OnnxEngine(Engine):
    """Scores ``model.onnx`` with one ONNX Runtime session.

    ``threads`` sets the session's intra-op threads (default 1: a serving worker per core scales
    better than threads inside one small request, and avoids oversubscription). ``spin=False`` stops
    idle pool threads from busy-waiting between runs (a server sharing its cores with other workers).
    """

    name = "onnx"
    artifact = "onnx"

    def __init__(self, bundle: Bundle, *, threads: int | None = 1, spin: bool = True, **_: Any) -> None:
        super().__init__(bundle)
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EngineError("the onnx engine needs onnxruntime: pip install onnxruntime") from exc
        spec = bundle.manifest.get("onnx") or {}
        path = bundle.artifact_path("onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f"{path}: ONNX Runtime cannot load the model ({exc})") from exc
        self._version = ort.__version__
        self.missing_string = spec.get("missing_string", "")
        # (field, onnx input name, numpy dtype or None for strings), resolved once at load
        self._feeds = [(i["field"], i["name"], _NP_TYPES.get(i["type"])) for i in spec["inputs"]]
        if bundle.is_classifier:
            self._outputs = [spec["label_output"], spec["probability_output"]]
        else:
            self._outputs = [spec["prediction_output"]]

    def predict_columns(self, columns: Columns) -> Prediction:
        feeds = {}
        for field, name, np_type in self._feeds:
            col = columns[field]
            if np_type is None:
                col = col.copy()
                col[np.equal(col, None)] = self.missing_string
            else:
                col = col.astype(np_type, copy=False)
            feeds[name] = col.reshape(-1, 1)
        out = self.session.run(self._outputs, feeds)
        if self.bundle.is_classifier:
            return Prediction.classification(self.classes, out[1], labels=self._labels(out[0]))
        return Prediction.regression(out[0])

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        raw = raw.reshape(-1)
        if raw.dtype.kind in "iub":
            return raw
        return raw.astype(str)

    def describe(self) -> str:
        return f"onnxruntime {self._version}"
