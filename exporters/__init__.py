"""Exporters: a fitted pipeline becomes a verified PMML + ONNX model bundle.

>>> bundle = export_bundle(pipeline, sample_df, name="credit_risk", repo="models")
>>> print(fidelity.format_table(bundle.manifest["fidelity"]))
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporters import fidelity, onnx, pmml
from exporters.introspect import PipelineInfo, inspect_pipeline
from exporters.support import check_supported
from scorebridge import __version__
from scorebridge.bundle import (
    Bundle,
    artifact_entry,
    check_name,
    next_version,
    staged_bundle_dir,
    write_manifest,
)
from scorebridge.engines.native import native_prediction
from scorebridge.errors import FidelityError, ScorebridgeError, UntrustedPickleError
from scorebridge.prediction import Prediction, output_columns

__all__ = ["export_bundle", "verify_bundle"]

log = logging.getLogger(__name__)
FORMATS = ("pmml", "onnx")
_LIBRARIES = ("scikit-learn", "xgboost", "lightgbm", "sklearn2pmml", "skl2onnx", "onnxmltools", "onnx",
              "onnxruntime", "sklearn-pandas", "jpmml-evaluator", "pypmml", "pandas", "numpy")


def export_bundle(pipeline: Any, sample: pd.DataFrame, *, name: str, repo: str | Path = "models",
                  version: str | None = None, formats: Sequence[str] = FORMATS, tolerance: float | None = None,
                  target: str | None = None) -> Bundle:
    """Export a fitted pipeline to ``<repo>/<name>/<version>/`` and prove it predicts what it did.

    ``sample`` is a DataFrame of raw inputs (training rows are ideal). The exporter adds rows with a
    missing value in each input and an unseen category in each categorical input, scores them with
    the native pipeline and with every artifact (PMML through JPMML-Evaluator, ONNX through ONNX
    Runtime, and pypmml, reported only), and writes the agreement into the manifest. Raises
    :class:`FidelityError` (and writes nothing) when a gating artifact disagrees beyond
    ``tolerance`` (default: per model family, see :data:`fidelity.DEFAULT_TOLERANCE`), and
    :class:`UnsupportedPipelineError` before any work for a step without a faithful conversion.
    """
    check_name(name)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ScorebridgeError(f"unknown format(s) {', '.join(unknown) or '(none)'}: choose from pmml, onnx")
    check_supported(pipeline)
    info = inspect_pipeline(pipeline, sample, target)
    tol = float(tolerance) if tolerance is not None else fidelity.default_tolerance(info.family)
    if "pmml" in formats:
        from scorebridge.jvm import java_home

        java_home()  # fail before any work when there is no JVM
    verify = fidelity.verification_frame(sample, info.schema)
    native = native_prediction(pipeline, verify, info.task, info.classes)
    repo = Path(repo)
    version = version or next_version(repo / name)
    with staged_bundle_dir(repo, name, version) as tmp:
        manifest = _manifest(info, name, version, tol)
        artifacts = manifest["artifacts"]
        _write_verification(tmp / "verification.parquet", verify, native)
        artifacts["verification"] = artifact_entry(tmp / "verification.parquet")
        import joblib

        joblib.dump(pipeline, tmp / "model.joblib", compress=3)
        artifacts["native"] = artifact_entry(tmp / "model.joblib", executes_code=True)
        if "pmml" in formats:
            manifest["pmml"] = _export_pmml(pipeline, info, tmp / "model.pmml", verify, native, tol)
            artifacts["pmml"] = artifact_entry(tmp / "model.pmml")
        if "onnx" in formats:
            manifest["onnx"] = onnx.convert(pipeline, info, tmp / "model.onnx")
            artifacts["onnx"] = artifact_entry(tmp / "model.onnx")
            fast = onnx.convert_xgboost_fast_path(pipeline, info, tmp / "preprocess.onnx", tmp / "model.ubj")
            if fast:
                manifest["xgboost"] = fast
                artifacts["xgboost_preprocess"] = artifact_entry(tmp / "preprocess.onnx")
                artifacts["xgboost_booster"] = artifact_entry(tmp / "model.ubj")
        write_manifest(tmp, manifest)
        staged = Bundle.load(tmp)
        manifest["fidelity"] = measure(staged, verify, native, tol, engines_for(staged))
        write_manifest(tmp, manifest)
        failed = [k for k, r in manifest["fidelity"].items() if r.get("gating") and not r["passed"]]
        if failed:
            raise FidelityError(
                f"{', '.join(failed)} disagree(s) with the native pipeline beyond tolerance {tol:g}; nothing "
                f"was written\n{fidelity.format_table(manifest['fidelity'])}")
    return Bundle.load(repo / name / version)


def measure(bundle: Bundle, frame: pd.DataFrame, native: Prediction, tolerance: float,
            engines: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Score ``frame`` with each engine and compare with ``native``; an engine that fails is reported."""
    from scorebridge.engines import load_engine

    columns = bundle.schema.from_frame(frame)
    reports: dict[str, dict[str, Any]] = {}
    for name in engines:
        gating = name in fidelity.GATING
        try:
            engine = load_engine(bundle, name)
            report = fidelity.compare(engine.predict_columns(columns), native, tolerance)
            report = {"evaluator": engine.describe(), **report, "gating": gating}
        except Exception as exc:  # report any runtime's failure; gating ones fail the export
            log.warning("%s evaluation failed: %s", name, exc)
            report = {"evaluator": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                      "passed": False, "gating": gating}
        reports[name] = report
    return reports


def verify_bundle(ref: str | Path, data: pd.DataFrame, *, trust_pickles: bool = False,
                  engines: Sequence[str] | None = None, tolerance: float | None = None) -> dict[str, dict[str, Any]]:
    """Re-run the fidelity check of a bundle on other data.

    The native outputs come from ``native_*`` columns when ``data`` has them (as
    ``verification.parquet`` does); otherwise the bundle's pickled pipeline is scored, which needs
    ``trust_pickles=True``.
    """
    from scorebridge.engines import load_engine

    bundle = Bundle.load(ref)
    tol = tolerance if tolerance is not None else bundle.manifest.get("tolerance", {}).get("value", 1e-5)
    if any(c.startswith("native_") for c in data.columns):
        native = fidelity.prediction_from_native_columns(data, bundle.task, bundle.classes)
    elif not trust_pickles:
        raise UntrustedPickleError(
            "the data has no native_* columns, so the native outputs must come from unpickling model.joblib, "
            "which executes code: pass --trust-pickles for a bundle you built, or verify on data that "
            "carries native_* columns (like the bundle's verification.parquet)")
    else:
        native = load_engine(bundle, "native", trust_pickles=True).predict(data)
    return measure(bundle, data, native, tol, engines or engines_for(bundle))


def engines_for(bundle: Bundle) -> list[str]:
    """The engines a bundle's artifacts are measured with: JPMML and pypmml for PMML, ONNX Runtime
    for ONNX, and the XGBoost fast path where the bundle carries it."""
    engines = [k for k in ("pmml", "onnx") if bundle.has_artifact(k)]
    if bundle.has_artifact("xgboost_booster"):
        engines.append("xgboost")
    if bundle.has_artifact("pmml"):
        engines.append("pypmml")
    return engines


def _export_pmml(pipeline: Any, info: PipelineInfo, path: Path, verify: pd.DataFrame, native: Prediction,
                 tol: float) -> dict[str, Any]:
    return pmml.convert(pipeline, info, path, verify=verify, tolerance=tol)


def _write_verification(path: Path, frame: pd.DataFrame, native: Prediction) -> None:
    out = frame.copy()
    for key, values in fidelity.native_columns(native).items():
        out[key] = values
    out.to_parquet(path, index=False)


def _manifest(info: PipelineInfo, name: str, version: str, tol: float) -> dict[str, Any]:
    regression = info.task == "regression"
    outputs = ([{"name": "prediction", "dtype": "float64"}] if regression else
               [{"name": "label", "dtype": _label_dtype(info.classes)}] +
               [{"name": c, "dtype": "float64"} for c in output_columns(info.task, info.classes)[1:]])
    return {
        "format_version": 1,
        "name": name,
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "task": info.task,
        "target": info.target,
        "classes": info.classes,
        "model_family": info.family,
        "estimator": type(info.estimator).__name__,
        "steps": [type(s).__name__ for _, s in info.steps],
        "inputs": info.schema.to_manifest(),
        "outputs": outputs,
        "artifacts": {},
        "tolerance": {"value": tol, "kind": "relative to max(1,|y|)" if regression else "absolute probability"},
        "fidelity": {},
        "libraries": _libraries(),
    }


def _label_dtype(classes: list) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "bool"
    if all(isinstance(c, (int, np.integer)) for c in classes):
        return "int64"
    return "string"


def _libraries() -> dict[str, str]:
    libs = {"python": platform.python_version(), "scorebridge": __version__}
    for lib in _LIBRARIES:
        for dist in (lib, f"{lib}-cpu"):  # xgboost is often installed as xgboost-cpu
            try:
                libs[lib] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                pass
    return libs
