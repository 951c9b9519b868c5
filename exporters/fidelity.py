"""Fidelity: build the verification set and measure each artifact against the native pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from scorebridge.prediction import Prediction, output_columns
from scorebridge.schema import InputSchema

# Default tolerance per model family: the largest absolute probability difference (classification),
# or the largest difference relative to max(1, |prediction|) (regression, anomaly scores), that a
# gating artifact may show. Both artifacts compute in float64 like scikit-learn, and cast to float32
# in front of the models that do so themselves (trees, XGBoost). The worst case per family over the
# support matrix (docs/support-matrix.md, benchmarks/support_matrix.py, 151 cases):
#   linear      2.3e-15 ONNX, 1.2e-15 PMML (PowerTransformer: rounding order only)
#   knn, naive_bayes, mlp  1.6e-15 (float64 kernels, both formats)
#   tree        5.6e-8  ONNX: leaf values stored as float32 (PMML exact)
#   forest      2.3e-7, gbdt 1.0e-7, hist_gbdt 7.7e-8, isolation_forest 7.6e-8, ensemble 1.7e-7:
#               ONNX, float32 leaves summed over the trees (PMML <= 2.4e-8)
#   svm         2.8e-7  ONNX: ONNX Runtime's SVM kernels are float32 (PMML exact)
#   xgboost     1.6e-6  relative (reg:gamma, both formats: XGBoost predicts in float32)
#   lightgbm    1.3e-6  relative (gamma, ONNX: float32 thresholds and leaves; PMML exact)
# Split decisions are identical (no threshold flips), so a tolerance well above the worst case still
# flags any real difference (a flipped split or a mis-handled missing value moves outputs by >1e-3);
# float64 families get 1e-9, far below any float32 drift (~1e-7), so a float32 step cannot hide there.
DEFAULT_TOLERANCE = {
    "linear": 1e-9,
    "knn": 1e-9,
    "naive_bayes": 1e-9,
    "mlp": 1e-9,
    "tree": 1e-6,
    "forest": 2e-6,
    "gbdt": 2e-6,
    "hist_gbdt": 2e-6,
    "isolation_forest": 2e-6,
    "ensemble": 2e-6,
    "svm": 5e-6,
    "xgboost": 1e-5,
    "lightgbm": 1e-5,
}
UNSEEN_PREFIX = "__unseen__"
GATING = ("pmml", "onnx", "xgboost")


def default_tolerance(family: str) -> float:
    """The documented default tolerance of a model family (see :data:`DEFAULT_TOLERANCE`)."""
    return DEFAULT_TOLERANCE.get(family, 1e-5)


def verification_frame(sample: pd.DataFrame, schema: InputSchema, *, max_rows: int = 200,
                       seed: int = 0) -> pd.DataFrame:
    """Sample rows plus edge rows: NaN in each nullable numeric input, a missing value and an unseen
    category in each categorical input. Missing values are ``NaN`` in every column (see bundle.md)."""
    base = sample[schema.names]
    if len(base) > max_rows:
        base = base.sample(n=max_rows, random_state=seed)
    base = base.reset_index(drop=True)
    frame = pd.DataFrame({f.name: base[f.name].astype(object if not f.is_numeric else "float64")
                          for f in schema.fields})
    donor = frame.iloc[[0]]
    edges = []
    for f in schema.fields:
        if f.nullable:
            row = donor.copy()
            row[f.name] = np.nan
            edges.append(row)
        if has_unseen_row(f):
            row = donor.copy()
            row[f.name] = unseen_value(f)
            edges.append(row)
    out = pd.concat([frame, *edges], ignore_index=True)
    for f in schema.fields:
        if not f.is_numeric:
            out[f.name] = out[f.name].astype(object).where(out[f.name].notna(), np.nan)
    return out


def edge_kinds(schema: InputSchema) -> list[str]:
    """What each edge row at the end of :func:`verification_frame`'s output holds, in order
    (``"missing x1"``, ``"unseen c1"``): reports name the rows an artifact gets wrong."""
    kinds = []
    for f in schema.fields:
        if f.nullable:
            kinds.append(f"missing {f.name}")
        if has_unseen_row(f):
            kinds.append(f"unseen {f.name}")
    return kinds


def row_kinds(frame_rows: int, schema: InputSchema) -> list[str]:
    """A label per row of a verification frame of ``frame_rows`` rows: ``"sample"`` then the edge rows."""
    edges = edge_kinds(schema)
    return ["sample"] * (frame_rows - len(edges)) + edges


def has_unseen_row(f: Any) -> bool:
    """Whether the verification rows hold an unseen category of field ``f``: not for a strict field
    (the schema refuses it before any model sees it) nor a boolean one (it has no third value)."""
    return f.optype == "categorical" and not f.strict and f.dtype != "bool"


def unseen_value(f: Any) -> Any:
    """A category of field ``f`` that training did not see (the unseen verification row's value)."""
    return f"{UNSEEN_PREFIX}{f.name}" if not f.is_numeric else unseen_number(f.categories)


def unseen_number(categories: tuple | None) -> float:
    """A number no category of a numeric categorical input has (the largest plus 1000)."""
    values = [float(c) for c in categories or () if isinstance(c, (int, float))]
    return float(max(values, default=0.0) + 1000.0)


def native_columns(pred: Prediction) -> dict[str, np.ndarray]:
    """Native outputs as ``native_<output column>`` columns for verification.parquet."""
    return {f"native_{k}": v for k, v in pred.to_columns().items()}


def prediction_from_native_columns(frame: pd.DataFrame, task: str, classes: list) -> Prediction:
    """Rebuild the native :class:`Prediction` from ``native_*`` columns."""
    if task == "classification":
        proba = np.column_stack([frame[f"native_{col}"].to_numpy(np.float64)
                                 for col in output_columns(task, classes)[1:]])
        return Prediction.classification(classes, proba, labels=frame["native_label"].to_numpy())
    return Prediction.regression(frame["native_prediction"].to_numpy(np.float64))


def compare(artifact: Prediction, native: Prediction, tolerance: float,
            kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement of an artifact's predictions with the native ones.

    Classification: max absolute probability difference, label agreement, and label mismatches on
    rows whose native winning margin exceeds the tolerance (must be none). Regression: max absolute
    and relative (to ``max(1, |native|)``) differences. With ``kinds`` (a label per row, see
    :func:`row_kinds`), a failing report lists in ``worst_rows`` the kinds of rows that fail, worst
    first (at most three).
    """
    report, errors, bad = _compare(artifact, native, tolerance)
    if kinds is not None and not report["passed"]:
        worst: list[str] = []
        for i in np.argsort(-np.nan_to_num(errors, nan=np.inf), kind="stable"):
            if bad[i] and kinds[i] not in worst:
                worst.append(kinds[i])
        report["worst_rows"] = worst[:3]
    return report


def _no_output(errors: np.ndarray) -> dict[str, int]:
    """``rows_without_output``: rows the artifact gave no value for (NaN), which ``max_abs_diff`` (the
    largest difference where both have one) cannot show; present only when there are any."""
    count = int(np.isnan(errors).sum())
    return {"rows_without_output": count} if count else {}


def _compare(artifact: Prediction, native: Prediction,
             tolerance: float) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """(report, per-row error, per-row failure mask)."""
    rows = len(native)
    if native.task == "classification":
        per_row = np.abs(artifact.probabilities - native.probabilities).max(axis=1)
        labels_equal = np.asarray([str(a) == str(b) for a, b in zip(artifact.labels, native.labels)])
        top2 = np.sort(native.probabilities, axis=1)[:, -2:] if native.probabilities.shape[1] > 1 else None
        margin = (top2[:, 1] - top2[:, 0]) if top2 is not None else np.ones(rows)
        beyond = ~labels_equal & (margin > tolerance)
        max_diff = float(np.nanmax(per_row)) if rows else 0.0
        passed = bool(max_diff <= tolerance and not beyond.any() and not np.isnan(per_row).any())
        report = {"rows": rows, "max_abs_diff": max_diff, "rows_over_tolerance": int(np.sum(per_row > tolerance)),
                  **_no_output(per_row),
                  "label_agreement": float(labels_equal.mean()) if rows else 1.0,
                  "label_mismatches": int(np.sum(~labels_equal)),
                  "label_mismatches_beyond_margin": int(beyond.sum()), "tolerance": tolerance, "passed": passed}
        return report, per_row, (per_row > tolerance) | beyond | np.isnan(per_row)
    diff = np.abs(artifact.values - native.values)
    rel = diff / np.maximum(1.0, np.abs(native.values))
    max_rel = float(np.nanmax(rel)) if rows else 0.0
    report = {"rows": rows, "max_abs_diff": float(np.nanmax(diff)) if rows else 0.0, "max_rel_diff": max_rel,
              "rows_over_tolerance": int(np.sum(rel > tolerance)), **_no_output(rel), "tolerance": tolerance,
              "passed": bool(max_rel <= tolerance and not np.isnan(rel).any())}
    return report, rel, (rel > tolerance) | np.isnan(rel)
