"""PMML engine: JPMML-Evaluator (the evaluator the Java client uses) in-process through JPype."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction, class_text
from scorebridge.schema import Columns

JVM_LOCK = threading.Lock()


def pmml_arguments(bundle: Bundle, columns: Columns):
    """A DataFrame for PMML evaluators: ``None`` for missing, ints for int64 fields."""
    import pandas as pd

    data = {}
    for f in bundle.schema.fields:
        col = columns[f.name]
        if f.is_numeric:
            missing = np.isnan(col)
            if f.dtype in ("int64", "bool"):
                values = col.astype(np.int64, copy=True).astype(object) if not missing.any() else \
                    np.where(missing, None, np.nan_to_num(col).astype(np.int64)).astype(object)
                if f.dtype == "bool":
                    values = np.array([None if v is None else bool(v) for v in values], dtype=object)
            else:
                values = np.where(missing, None, col).astype(object) if missing.any() else col
            data[f.name] = values
        else:
            data[f.name] = col
    return pd.DataFrame(data)


def pmml_prediction(bundle: Bundle, results: Any) -> Prediction:
    """Turn an evaluator's result DataFrame into a :class:`Prediction` via the manifest's field map."""
    spec = bundle.manifest["pmml"]
    if bundle.is_classifier:
        fields = spec["probability_fields"]  # None: a classifier without probabilities
        proba = None if fields is None else \
            np.column_stack([results[fields[class_text(c)]].to_numpy(dtype=np.float64) for c in bundle.classes])
        labels = None
        if spec.get("label_field") and spec["label_field"] in results.columns:
            labels = results[spec["label_field"]].to_numpy()  # Prediction maps them to the classes
        return Prediction.classification(bundle.classes, proba, labels=labels)
    return Prediction.regression(results[spec["prediction_field"]].to_numpy(dtype=np.float64))


# The evaluator an export just loaded and verified for a PMML it wrote, keyed by the file's path, size
# and modification time: the export's fidelity check takes it instead of loading the file again (a
# 500-tree PMML takes about a second). One entry, taken once.
_VERIFIED: dict[tuple[str, int, int], Any] = {}


def _file_key(path: Any) -> tuple[str, int, int]:
    import os

    stat = os.stat(path)
    return (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


def verified_evaluator(path: Any, *, keep: bool = False) -> Any:
    """JPMML's evaluator of ``path``, loaded and its verification records checked (raises on either).

    ``keep=True`` keeps it for the next :class:`JpmmlEngine` of the same unchanged file."""
    from jpmml_evaluator import make_evaluator

    from scorebridge.jvm import ensure_java_env

    ensure_java_env()
    with JVM_LOCK:
        evaluator = _VERIFIED.pop(_file_key(path), None)
        if evaluator is None:
            evaluator = make_evaluator(str(path), backend="jpype", lax=True).verify()
        if keep:
            _VERIFIED.clear()
            _VERIFIED[_file_key(path)] = evaluator
    return evaluator


class JpmmlEngine(Engine):
    """Scores ``model.pmml`` with JPMML-Evaluator on a JVM started in this process (JPype).

    The JVM starts on first use in each process (so it is safe after a fork) and lives until exit.
    """

    name = "pmml"
    artifact = "pmml"

    def __init__(self, bundle: Bundle, **_: Any) -> None:
        super().__init__(bundle)
        try:
            import jpmml_evaluator  # noqa: F401
        except ImportError as exc:
            raise EngineError("the pmml engine needs jpmml-evaluator and JPype: "
                              "pip install jpmml-evaluator jpype1") from exc
        path = bundle.artifact_path("pmml")
        try:
            self.evaluator = verified_evaluator(path)
        except EngineError:
            raise
        except Exception as exc:  # Java exceptions surface as various Python types
            raise EngineError(f"{path}: JPMML cannot load or verify the PMML ({exc})") from exc

    def predict_columns(self, columns: Columns) -> Prediction:
        results = self.evaluator.evaluateAll(pmml_arguments(self.bundle, columns))
        return pmml_prediction(self.bundle, results)

    def describe(self) -> str:
        return "jpmml-evaluator 1.7.7"
