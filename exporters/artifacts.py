"""Convert a pipeline into one artifact format, on its own: files in the staging directory and the
manifest section, or the converter's reason why not.

========= ================================ ============================================
format    files (manifest artifact)        converter
========= ================================ ============================================
pmml      model.pmml (``pmml``)            sklearn2pmml (a JVM)
onnx      model.onnx (``onnx``)            skl2onnx, onnxmltools for XGBoost/LightGBM
xgboost   preprocess.onnx                  skl2onnx for the preprocessing; the booster in
          (``xgboost_preprocess``),        XGBoost's own UBJSON format
          model.ubj (``xgboost_booster``)
========= ================================ ============================================
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporters import fidelity, onnx, pmml
from exporters.introspect import PipelineInfo
from exporters.steps import locate_step
from scorebridge.engines.native import native_prediction
from scorebridge.errors import ConversionError
from scorebridge.prediction import Prediction

log = logging.getLogger(__name__)

FORMATS = ("pmml", "onnx", "xgboost")
# format -> {manifest artifact key: file name}
FILES = {
    "pmml": {"pmml": "model.pmml"},
    "onnx": {"onnx": "model.onnx"},
    "xgboost": {"xgboost_preprocess": "preprocess.onnx", "xgboost_booster": "model.ubj"},
}


def default_converter(fmt: str, info: PipelineInfo) -> str:
    """The library that converts ``fmt`` for this pipeline (when the converter did not say)."""
    if fmt == "pmml":
        return "sklearn2pmml"
    if fmt == "onnx" and info.family in ("xgboost", "lightgbm"):
        return "skl2onnx + onnxmltools"
    return "skl2onnx"


def convert(fmt: str, pipeline: Any, info: PipelineInfo, directory: Path, verify: pd.DataFrame,
            tolerance: float) -> dict[str, Any] | None:
    """Write format ``fmt`` of ``pipeline`` into ``directory``; returns its manifest section, or ``None``
    when the format does not apply (the XGBoost fast path of an objective it cannot serve).

    Raises :class:`ConversionError` with ``format``, ``converter`` and (when known) ``step`` set;
    any other exception a converter raises is turned into one, so nothing internal escapes. A format
    that fails leaves none of its files behind.
    """
    files = [directory / name for name in FILES[fmt].values()]
    try:
        if fmt == "pmml":
            return _pmml(pipeline, info, files[0], verify, tolerance)
        if fmt == "onnx":
            return onnx.convert(pipeline, info, files[0])
        return onnx.convert_xgboost_fast_path(pipeline, info, files[0], files[1])
    except Exception as exc:
        for path in files:
            path.unlink(missing_ok=True)
        known = isinstance(exc, ConversionError)
        if not known:
            log.debug("%s conversion failed", fmt, exc_info=True)
        message = _one_line(exc.message if known else f"{type(exc).__name__}: {exc}")
        raise ConversionError(message, format=fmt, converter=(known and exc.converter) or default_converter(fmt, info),
                              step=(known and exc.step) or locate_step(pipeline, message)) from exc


def _one_line(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else "no reason given"
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _pmml(pipeline: Any, info: PipelineInfo, path: Path, verify: pd.DataFrame, tol: float) -> dict[str, Any]:
    """sklearn2pmml's PMML with its verification records, and the missing-value fix where needed."""
    # The embedded verification records take the sample head plus the missing/unseen edge rows.
    edge_start = len(verify) - len(fidelity.edge_kinds(info.schema))
    records = pd.concat([verify.head(20), verify.iloc[edge_start:]])
    pmml.convert(pipeline, info, path, verify_rows=records, tolerance=max(tol, 1e-9))
    fix = _missing_as_unseen_fields(pipeline, info, verify)
    if fix:
        fix = pmml.set_missing_as_unseen(path, fix)
    fields = pmml.output_fields(path)
    spec: dict[str, Any] = {"missing_as_unseen": fix}
    if info.task == "classification":
        missing = [c for c in info.classes if str(c) not in fields["probabilities"]]
        if missing:
            raise ConversionError(f"the PMML has no probability output for class(es) {missing}")
        spec.update(label_field=fields["target"], prediction_field=None,
                    probability_fields={str(c): fields["probabilities"][str(c)] for c in info.classes})
    else:
        spec.update(label_field=None, prediction_field=fields["target"], probability_fields=None)
    return spec


def _missing_as_unseen_fields(pipeline: Any, info: PipelineInfo, verify: pd.DataFrame) -> list[str]:
    """String inputs whose missing value the native pipeline scores exactly like an unseen category
    (one-hot ``handle_unknown='ignore'`` with no imputer): PMML must do the same."""
    base = verify.head(5)
    fields = []
    for f in info.schema.fields:
        if f.optype != "categorical" or f.is_numeric or not f.nullable:
            continue
        missing, unseen = base.copy(), base.copy()
        missing[f.name] = pd.Series(np.nan, index=missing.index, dtype=object)
        unseen[f.name] = f"{fidelity.UNSEEN_PREFIX}{f.name}"
        a = native_prediction(pipeline, missing, info.task, info.classes)
        b = native_prediction(pipeline, unseen, info.task, info.classes)
        if _same(a, b):
            fields.append(f.name)
    return fields


def _same(a: Prediction, b: Prediction) -> bool:
    if a.task == "classification":
        return bool(np.array_equal(a.probabilities, b.probabilities))
    return bool(np.array_equal(a.values, b.values))
