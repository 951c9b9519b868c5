"""Scoring engines, one per runtime, behind :class:`~scorebridge.engines.base.Engine`.

======== ====================================== ===========================================
name     runtime                                reads
======== ====================================== ===========================================
onnx     ONNX Runtime                           ``model.onnx``
pmml     JPMML-Evaluator on the JVM (JPype)     ``model.pmml`` (the evaluator the Java client uses)
pypmml   pypmml (PMML4S through Py4J)           ``model.pmml``; reported in fidelity, never chosen
native   the pickled pipeline (joblib)          ``model.joblib``; runs code: needs ``trust_pickles=True``
xgboost  ONNX preprocessing + XGBoost booster   ``preprocess.onnx`` + ``model.ubj`` (XGBoost bundles)
======== ====================================== ===========================================

A bundle holds the artifacts that converted and passed their fidelity gate, so which engines can
score it differs per bundle: :func:`choose_engine` picks one for a purpose (``auto``) or checks an
explicit choice against what the bundle holds. The service, batch jobs and ``scorebridge predict``
all decide through it.
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
# the manifest artifacts each engine reads
ENGINE_ARTIFACTS = {
    "onnx": ("onnx",),
    "pmml": ("pmml",),
    "pypmml": ("pmml",),
    "native": ("native",),
    "xgboost": ("xgboost_preprocess", "xgboost_booster"),
}
# ``auto``, by purpose, in order of preference. "serve": small requests, where a call's fixed cost
# rules (ONNX Runtime ~20 us a row, the XGBoost fast path close behind, JPMML through JPype last);
# "batch": big requests, batch jobs and files, where throughput rules (XGBoost's own predictor is
# about twice ONNX Runtime's tree kernel). The native pickle is never chosen: it needs trust.
PREFERENCE = {
    "serve": ("onnx", "xgboost", "pmml"),
    "batch": ("xgboost", "onnx", "pmml"),
}

__all__ = ["ENGINES", "ENGINE_ARTIFACTS", "Engine", "choose_engine", "engine_class", "load_engine",
           "scoring_artifacts"]


def engine_class(name: str) -> type[Engine]:
    """The :class:`Engine` subclass registered as ``name``."""
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def scoring_artifacts(bundle: Bundle) -> list[str]:
    """The scoring artifacts ``bundle`` holds (``pmml``, ``onnx``, ``xgboost_*``, ``native``), in manifest
    order; ``verification`` is data for checks, not a model."""
    return [kind for kind in bundle.manifest["artifacts"] if kind != "verification"]


def _can_run(bundle: Bundle, name: str) -> bool:
    if not all(bundle.has_artifact(kind) for kind in ENGINE_ARTIFACTS[name]):
        return False
    if name == "xgboost":
        from scorebridge.engines.xgboost import available

        return available(bundle)  # the xgboost module is an optional dependency
    return True


def choose_engine(bundle: Bundle, purpose: str = "serve", requested: str = "auto") -> str:
    """The engine that scores ``bundle`` for ``purpose`` (``"serve"`` or ``"batch"``).

    ``requested="auto"`` takes the first engine of :data:`PREFERENCE` whose artifacts the bundle
    holds; any other name is checked against the bundle. Raises :class:`EngineError` naming the
    artifacts the bundle has when it has none that fits.
    """
    if purpose not in PREFERENCE:
        raise EngineError(f"unknown purpose {purpose!r}: choose one of {', '.join(PREFERENCE)}")
    has = ", ".join(scoring_artifacts(bundle)) or "none"
    if requested == "auto":
        for name in PREFERENCE[purpose]:
            if _can_run(bundle, name):
                return name
        raise EngineError(f"bundle {bundle} has no artifact a trust-free engine scores (it has: {has}); "
                          "re-export it with at least one of pmml, onnx")
    engine_class(requested)  # unknown names fail here, with the list of engines
    if not all(bundle.has_artifact(kind) for kind in ENGINE_ARTIFACTS[requested]):
        usable = [n for n in PREFERENCE["batch"] + ("native",) if _can_run(bundle, n)]
        hint = f"use engine auto or one of {', '.join(usable)}" if usable else "re-export it"
        wanted = " + ".join(ENGINE_ARTIFACTS[requested])
        raise EngineError(f"bundle {bundle} has no {wanted} artifact for the {requested} engine (it has: {has}); "
                          f"{hint}")
    return requested


def load_engine(bundle: Bundle | str | os.PathLike[str], name: str = "auto", *, purpose: str = "batch",
                **options: Any) -> Engine:
    """Load ``bundle`` (a :class:`Bundle` or a reference) into engine ``name``.

    ``name="auto"`` picks with :func:`choose_engine` for ``purpose``; an explicit name the bundle
    has no artifact for is refused the same way. Options: ``threads`` and ``spin`` (onnx, xgboost),
    ``trust_pickles`` (native).
    """
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    return engine_class(choose_engine(bundle, purpose, name))(bundle, **options)
