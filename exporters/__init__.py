"""Exporters: a fitted pipeline becomes a verified model bundle, each artifact gated on its own.

>>> bundle = export_bundle(pipeline, sample_df, name="credit_risk", repo="models")
>>> print(report.format_table(bundle.manifest["fidelity"], excluded=bundle.manifest["excluded"]))

The converters decide what they can convert (sklearn2pmml for PMML, skl2onnx/onnxmltools for ONNX)
and the fidelity gate decides what is faithful; the bundle holds every artifact that passes both,
and its manifest says why any other is absent (``exporters/gate.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporters import artifacts, boundary, denylist, fidelity, fidelity_rows
from exporters.artifacts import FILES, FORMATS
from exporters.gate import Gate, parse_formats, parse_require
from exporters.introspect import PipelineInfo, inspect_pipeline
from scorebridge import __version__
from scorebridge.bundle import (
    Bundle,
    artifact_entry,
    check_name,
    next_version,
    staged_bundle_dir,
    write_manifest,
)
from scorebridge.errors import ConversionError, JavaNotFoundError, UntrustedPickleError
from scorebridge.prediction import Prediction, output_columns

__all__ = ["FORMATS", "export_bundle", "verify_bundle"]

log = logging.getLogger(__name__)
_EVALUATORS = {"pmml": "jpmml-evaluator", "onnx": "onnxruntime", "xgboost": "xgboost + onnxruntime",
               "pypmml": "pypmml", "native": "scikit-learn"}  # report names of engines that did not load
_LIBRARIES = ("scikit-learn", "xgboost", "lightgbm", "sklearn2pmml", "skl2onnx", "onnxmltools", "onnx",
              "onnxruntime", "sklearn-pandas", "jpmml-evaluator", "pypmml", "pandas", "numpy")


def export_bundle(pipeline: Any, sample: pd.DataFrame, *, name: str, repo: str | Path = "models",
                  version: str | None = None, formats: str | Iterable[str] = FORMATS,
                  require: str | Iterable[str] = "any", tolerance: float | None = None,
                  target: str | None = None) -> Bundle:
    """Export a fitted pipeline to ``<repo>/<name>/<version>/`` and prove it predicts what it did.

    ``sample`` is a DataFrame of raw inputs (training rows are ideal). The exporter adds rows with a
    missing value in each input and an unseen category in each categorical input, scores them with
    the native pipeline, then converts the pipeline to each of ``formats`` (``pmml``, ``onnx`` and,
    for XGBoost, the ``xgboost`` fast path) on its own and scores them too (PMML through
    JPMML-Evaluator, ONNX through ONNX Runtime; pypmml is reported only). An artifact that converts
    and agrees within ``tolerance`` (default: per model family, see
    :data:`fidelity.DEFAULT_TOLERANCE`) is written; any other is left out and the manifest's
    ``excluded`` says why.

    ``require`` is ``"any"`` (at least one faithful artifact) or the formats that must all be
    written (``"pmml"``, ``"onnx"``, ``"pmml,onnx"``). When that fails nothing is written and
    :class:`~scorebridge.errors.ExportError` (:class:`FidelityError` when only disagreement blocked it,
    :class:`UnsupportedPipelineError` for the denylist) says, in one line, what blocked each format
    and what to change. Bad input (an unfitted pipeline, a sample the pipeline cannot score) fails
    before any work with a one-line :class:`~scorebridge.errors.ScorebridgeError`.
    """
    check_name(name)
    formats = parse_formats(formats)
    boundary.check_pipeline(pipeline)
    boundary.check_sample_columns(pipeline, sample, target)
    info = inspect_pipeline(pipeline, sample, target)
    sample = info.sample  # a NumPy sample becomes a DataFrame with columns x0, x1, ...
    boundary.check_sample_values(sample, info)
    required = parse_require(require, formats)
    offered = FORMATS if info.family == "xgboost" else ("pmml", "onnx")  # the fast path is an XGBoost booster's
    if "xgboost" not in offered and "xgboost" not in (required or ()) and formats != ("xgboost",):
        formats = tuple(f for f in formats if f in offered)
    gate = Gate(formats, required, offered)
    if "xgboost" in gate.active and "xgboost" not in offered:
        gate.exclude("xgboost", {"reason": "not_applicable",
                                 "message": f"the XGBoost fast path needs an XGBoost model, not {info.family}"})
    for denial in denylist.check(pipeline):
        for fmt in denial.formats:
            if fmt in gate.active:
                gate.exclude(fmt, denial.to_manifest())
    if "pmml" in gate.active:
        from scorebridge.jvm import java_home

        try:
            java_home()  # sklearn2pmml and JPMML run on a JVM
        except JavaNotFoundError as exc:
            gate.exclude("pmml", {"reason": "unavailable", "message": str(exc)})
    gate.check()
    tol = float(tolerance) if tolerance is not None else fidelity.default_tolerance(info.family)
    verify = fidelity.verification_frame(sample, info.schema)
    kinds = fidelity.row_kinds(len(verify), info.schema)
    native = boundary.native_outputs(pipeline, verify, info, fidelity.edge_kinds(info.schema))
    repo = Path(repo)
    version = version or next_version(repo / name)
    with staged_bundle_dir(repo, name, version) as tmp:
        manifest = _manifest(info, name, version, tol)
        entries = manifest["artifacts"]
        _write_verification(tmp / "verification.parquet", verify, native)
        entries["verification"] = artifact_entry(tmp / "verification.parquet")
        import joblib

        joblib.dump(pipeline, tmp / "model.joblib", compress=3)
        entries["native"] = artifact_entry(tmp / "model.joblib", executes_code=True)
        # required formats first: a required one that cannot convert fails the export before the others run
        for fmt in sorted(gate.active, key=lambda f: f not in (gate.required or ())):
            try:
                section = artifacts.convert(fmt, pipeline, info, tmp, verify, tol)
            except ConversionError as exc:
                log.debug("%s left out: %s", fmt, exc.message)
                gate.conversion_failed(exc)
                continue
            if section is None:
                gate.exclude(fmt, {"reason": "not_applicable", "message": "the XGBoost fast path serves objectives "
                                                                           "that yield probabilities or values"})
                continue
            manifest[fmt] = section
            entries.update({kind: artifact_entry(tmp / file) for kind, file in FILES[fmt].items()})
        gate.check()
        write_manifest(tmp, manifest)
        staged = Bundle.load(tmp)
        outputs: dict[str, Prediction] = {}
        reports = measure(staged, verify, native, tol, engines_for(staged), kinds=kinds, outputs=outputs)
        for fmt in gate.measured(reports):
            log.debug("%s left out: disagrees with the native pipeline", fmt)
            manifest.pop(fmt, None)
            for kind, file in FILES[fmt].items():
                entries.pop(kind, None)
                (tmp / file).unlink(missing_ok=True)
        gate.check()
        manifest["fidelity"] = reports
        manifest["excluded"] = gate.excluded
        # per-row outputs of every evaluator measured (the console's scatter); not a model artifact
        rows_meta = fidelity_rows.write(tmp / fidelity_rows.FILE, verify, info.schema, kinds, native, outputs)
        manifest["fidelity_rows"] = artifact_entry(tmp / fidelity_rows.FILE, **rows_meta)
        write_manifest(tmp, manifest)
    return Bundle.load(repo / name / version)


def measure(bundle: Bundle, frame: pd.DataFrame, native: Prediction, tolerance: float,
            engines: Sequence[str], *, kinds: Sequence[str] | None = None,
            outputs: dict[str, Prediction] | None = None) -> dict[str, dict[str, Any]]:
    """Score ``frame`` with each engine and compare with ``native``; an engine that fails is reported.

    ``kinds`` labels each row (:func:`fidelity.row_kinds`) so a failing report names its worst rows;
    ``outputs``, when given, receives each engine's predictions."""
    from scorebridge.engines import load_engine

    columns = bundle.schema.from_frame(frame)
    reports: dict[str, dict[str, Any]] = {}
    for name in engines:
        gating = name in fidelity.GATING
        try:
            engine = load_engine(bundle, name)
            prediction = engine.predict_columns(columns)
            if outputs is not None:
                outputs[name] = prediction
            report = fidelity.compare(prediction, native, tolerance, kinds)
            report = {"evaluator": engine.describe(), **report, "gating": gating}
        except Exception as exc:  # report any runtime's failure; gating ones fail the export
            log.debug("%s evaluation failed: %s", name, exc)  # the report shows it
            # the bundle's own directory is noise in the report (and only a staging name during an export)
            text = str(exc).replace(f"{bundle.path}{os.sep}", "").strip().splitlines() or [""]
            report = {"evaluator": _EVALUATORS.get(name, name), "error": f"{type(exc).__name__}: {text[0][:200]}",
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


def _write_verification(path: Path, frame: pd.DataFrame, native: Prediction) -> None:
    out = frame.copy()
    for key, values in fidelity.native_columns(native).items():
        out[key] = values
    out.to_parquet(path, index=False)


def _manifest(info: PipelineInfo, name: str, version: str, tol: float) -> dict[str, Any]:
    regression = info.task != "classification"  # regression, or an anomaly score
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
        "excluded": {},
        "tolerance": {"value": tol, "kind": "relative to max(1,|y|)" if regression else "absolute probability"},
        "fidelity": {},
        "libraries": _libraries(),
        **({"notes": info.notes} if info.notes else {}),  # e.g. the generated names of a NumPy-fitted pipeline
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
