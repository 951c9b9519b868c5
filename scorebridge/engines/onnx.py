"""ONNX Runtime engine: the default for serving and batch scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns

_SMALL = 32
_NP_TYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}


def onnx_session(path: Path, *, threads: int | None = 1, spin: bool = True) -> Any:
    """An ONNX Runtime CPU session tuned for scoring.

    ``threads`` sets the intra-op threads (1 for serving: a worker per core scales better than threads
    inside one small request, and avoids oversubscription); ``spin=False`` stops idle pool threads
    from busy-waiting between runs (for processes sharing their cores with other workers).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise EngineError("the onnx engine needs onnxruntime: pip install onnxruntime") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise EngineError(f"{path}: ONNX Runtime cannot load the model ({exc})") from exc


class OnnxFeeds:
    """Turns :data:`Columns` into an ONNX graph's per-column inputs (resolved once, at load).

    ``inputs`` is the manifest's list of ``{"field", "name", "type"}``; missing strings are fed as
    ``missing_string`` (ONNX string tensors cannot hold a null).
    """

    def __init__(self, inputs: list[dict[str, str]], missing_string: str = "") -> None:
        self.missing_string = missing_string
        self._feeds = [(i["field"], i["name"], _NP_TYPES.get(i["type"])) for i in inputs]

    def __call__(self, columns: Columns) -> dict[str, np.ndarray]:
        feeds = {}
        for field, name, np_type in self._feeds:
            col = columns[field]
            if np_type is None:
                # a few records: a scan for None costs a tenth of the copy and the vectorised mask
                if len(col) > _SMALL or None in col.tolist():
                    col = col.copy()
                    col[np.equal(col, None)] = self.missing_string
            else:
                col = col.astype(np_type, copy=False)
            feeds[name] = col.reshape(-1, 1)
        return feeds


class OnnxEngine(Engine):
    """Scores ``model.onnx`` with one ONNX Runtime session (see :func:`onnx_session` for options)."""

    name = "onnx"
    artifact = "onnx"

    def __init__(self, bundle: Bundle, *, threads: int | None = 1, spin: bool = True, **_: Any) -> None:
        super().__init__(bundle)
        spec = bundle.manifest.get("onnx") or {}
        self.session = onnx_session(bundle.artifact_path("onnx"), threads=threads, spin=spin)
        self.feeds = OnnxFeeds(spec["inputs"], spec.get("missing_string", ""))
        # a classifier without probabilities has no probability_output; one without label_output
        # labels by its most probable class
        self._label = bool(spec.get("label_output"))
        if bundle.is_classifier:
            self._outputs = [o for o in (spec.get("label_output"), spec["probability_output"]) if o]
        else:
            self._outputs = [spec["prediction_output"]]

    def predict_columns(self, columns: Columns) -> Prediction:
        out = self.session.run(self._outputs, self.feeds(columns))
        if self.bundle.is_classifier:
            labels = self._labels(out[0]) if self._label else None
            proba = out[-1] if len(out) > int(self._label) else None
            return Prediction.classification(self.classes, proba, labels=labels)
        return Prediction.regression(out[0])

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        raw = raw.reshape(-1)
        if raw.dtype.kind in "iub":
            return raw
        return raw.astype(str)

    def describe(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__}"
