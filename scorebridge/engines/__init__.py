"""Scoring engines, one per runtime, behind :class:`~scorebridge.engines.base.Engine`.

======== ====================================== ===========================================
name     runtime                                notes
======== ====================================== ===========================================
onnx     ONNX Runtime (default)                 fastest; float32 inputs
pmml     JPMML-Evaluator on the JVM (JPype)     the evaluator the Java client uses
pypmml   pypmml (PMML4S through Py4J)           reported in fidelity, not gating
native   the pickled pipeline (joblib)          runs code: needs ``trust_pickles=True``
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
}

__all__ = ["ENGINES", "Engine", "engine_class", "load_engine"]


def engine_class(name: str) -> type[Engine]:
    """The :class:`Engine` subclass registered as ``name``."""
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def load_engine(bundle: Bundle | str | os.PathLike[str], name: str = "onnx", **options: Any) -> Engine:
    """Load ``bundle`` (a :class:`Bundle` or a reference) into engine ``name``.

    Options: ``threads`` (onnx), ``trust_pickles`` (native).
    """
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    return engine_class(name)(bundle, **options)
