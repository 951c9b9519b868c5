"""The denylist: conversions known to be unfaithful in ways the verification rows cannot reveal.

What a converter cannot convert, it says itself (the exporter records its reason and leaves that
artifact out), and what converts wrongly, the fidelity gate measures on the verification rows (the
sample plus a missing value in each input and an unseen category in each categorical input). This
list is for the rest: steps whose artifact would disagree with the native pipeline only on inputs the
verification rows do not hold, so a passing gate would prove nothing. Each entry names the formats it
blocks, why, and what to use instead; it is checked before any conversion. Keep it short: an entry
belongs here only when the verification rows cannot catch the problem.

============================== ======= ===================================================================
step                           formats why
============================== ======= ===================================================================
an imputer (``SimpleImputer``, onnx,   the ONNX graph treats only NaN as missing, so a value such as -1 in
``MissingIndicator``, ...)     xgboost the data is not imputed; the verification rows hold such a value only
with ``missing_values`` other          when the sample happens to
than NaN
LightGBM with                  onnx    LightGBM sends a zero (and NaN) to each split's default side;
``zero_as_missing=True``               onnxmltools' converter compares a zero with the threshold. The
                                       verification rows hold a zero only when the sample does (the PMML
                                       routes zeros like LightGBM, ``exporters/pmml_fixes.py``)
``DataFrameMapper(default=``   pmml,   the mapper passes or transforms the columns it does not list; the
anything but ``False)``        onnx    bundle's input schema cannot name them, so no artifact receives them
============================== ======= ===================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from exporters.steps import describe_step, walk_steps

_IMPUTERS = ("SimpleImputer", "MissingIndicator", "KNNImputer", "IterativeImputer")


@dataclass(frozen=True)
class Denial:
    """One denylisted step: the formats it blocks, where it is, why, and what to use instead."""

    formats: tuple[str, ...]
    step: str
    message: str
    instead: str

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``excluded`` entry for a format this denial blocks."""
        return {"reason": "denylist", "step": self.step, "message": self.message, "instead": self.instead}


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _zero_as_missing(model: Any) -> bool:
    params = {**model.get_params(), **(getattr(model, "_other_params", None) or {})}
    return str(params.get("zero_as_missing", False)).lower() in ("true", "1")


def check(pipeline: Any) -> list[Denial]:
    """Every denylisted step of ``pipeline`` (a fitted pipeline or bare estimator)."""
    denials = []
    for path, step in walk_steps(pipeline):
        kind = type(step).__name__
        where = describe_step(path, step)
        if kind in _IMPUTERS and not _is_nan(getattr(step, "missing_values", math.nan)):
            denials.append(Denial(
                ("onnx", "xgboost"), where, f"missing_values={step.missing_values!r}: the ONNX graph imputes NaN "
                "only, and the verification rows hold that value only if the sample does",
                "replace that value by NaN before fitting (missing values reach the model as NaN) and use "
                "missing_values=np.nan"))
        elif kind.startswith("LGBM") and _zero_as_missing(step):
            denials.append(Denial(
                ("onnx",), where, "zero_as_missing=True: LightGBM scores a zero as missing (the split's default "
                "side), onnxmltools' ONNX compares it with the threshold, and the verification rows hold a zero "
                "only if the sample does", "use the PMML artifact (it routes zeros like LightGBM), or train with "
                "zero_as_missing=False and NaN for missing values"))
        elif kind == "DataFrameMapper" and getattr(step, "default", False) is not False:
            denials.append(Denial(
                ("pmml", "onnx"), where, f"default={step.default!r} maps the columns it does not list, which "
                "the bundle's input schema cannot name", "list every input column in the mapper (default=False)"))
    return denials
