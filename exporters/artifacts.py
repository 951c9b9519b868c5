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

import pandas as pd

from exporters import onnx, pmml
from exporters.introspect import PipelineInfo
from exporters.steps import locate_step
from scorebridge.errors import ConversionError

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
    """sklearn2pmml's PMML with its verification records and missing/unseen value fixes (exporters/pmml.py)."""
    return pmml.convert(pipeline, info, path, verify=verify, tolerance=tol)
