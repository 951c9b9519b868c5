"""Scoring engines, one per runtime, behind :class:`~scorebridge.engines.base.Engine`.

======== ====================================== ===========================================
name     runtime                                notes
======== ====================================== ===========================================
onnx     ONNX Runtime (default)                 fastest; float32 inputs
pmml     JPMML-Evaluator on the JVM (JPype)     the evaluator the Java client uses
pypmml   pypmml (PMML4S through Py4J)           reported in fidelity, not gating
native   the pickled pipeline (joblib)          runs code: needs ``trust_pickles=True``
xgboost  ONNX preprocessing + XGBoost booster   XGBoost bundles; fastest for large batches
======== ====================================== ===========================================
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.errors import EngineError

ENGINES = {
    "onnx": "scorebridge.engines.onnx:OnnxEngine",
    "pmml": "scorebridge.engines.jpmml:JpmmlEngine",
    "pypmml": "scorebridge.engines.pypmml:PypmmlEngine",
    "native": "scorebridge.engines.native:NativeEngine",
    "xgboost": "scorebridge.engines.xgboost:XgboostEngine",
}

__all__ = ["ENGINES", "Engine", "batch_engine", "engine_class", "load_engine"]


def engine_class(name: str) -> type[Engine]:
    """The :class:`Engine` subclass registered as ``name``."""
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def batch_engine(bundle: Bundle) -> str:
    """The fastest engine for large batches that needs no trust: the XGBoost fast path where the
    bundle carries it and XGBoost is installed, else ONNX Runtime."""
    from scorebridge.engines.xgboost import available

    return "xgboost" if available(bundle) else "onnx"


def load_engine(bundle: Bundle | str | os.PathLike[str], name: str = "onnx", **options: Any) -> Engine:
    """Load ``bundle`` (a :class:`Bundle` or a reference) into engine ``name``.

    ``name="auto"`` picks :func:`batch_engine`. Options: ``threads`` and ``spin`` (onnx, xgboost),
    ``trust_pickles`` (native).
    """
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    if name == "auto":
        name = batch_engine(bundle)
    return engine_class(name)(bundle, **options)
