"""``fidelity_rows.parquet``: the per-row outputs behind the fidelity report.

The fidelity report keeps maxima (``max_abs_diff``, ``rows_over_tolerance``); the web console's
native-versus-exported scatter needs every verification row. This small file holds, per verification
row, its kind (``sample``, ``missing <input>``, ``unseen <input>``), whether any input is missing or
holds a category training did not see, and each score column of the native pipeline
(``native_<column>``) and of every evaluator measured (``<evaluator>_<column>``: ``pmml``, ``onnx``,
``xgboost``, ``pypmml``). No model is in it: the console reads it without loading an engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scorebridge.prediction import Prediction
from scorebridge.schema import InputSchema

FILE = "fidelity_rows.parquet"


def score_columns(prediction: Prediction) -> dict[str, np.ndarray]:
    """A prediction's numeric output columns (probabilities, or the prediction): the label is left out."""
    return {k: np.asarray(v, dtype=np.float64) for k, v in prediction.to_columns().items() if k != "label"}


def row_flags(frame: pd.DataFrame, schema: InputSchema) -> tuple[np.ndarray, np.ndarray]:
    """(any input missing, any categorical input holding a category training did not see) per row."""
    missing = np.zeros(len(frame), dtype=bool)
    unseen = np.zeros(len(frame), dtype=bool)
    for f in schema.fields:
        column = frame[f.name]
        absent = column.isna().to_numpy()
        missing |= absent
        if f.optype == "categorical" and f.categories is not None:
            known = {float(c) for c in f.categories} if f.is_numeric else set(f.categories)
            values = column.astype(float) if f.is_numeric else column
            unseen |= ~absent & ~values.isin(known).to_numpy()
    return missing, unseen


def write(path: Path, frame: pd.DataFrame, schema: InputSchema, kinds: Sequence[str], native: Prediction,
          outputs: Mapping[str, Prediction]) -> dict[str, Any]:
    """Write the file for the verification ``frame``; returns what the manifest says about it
    (``evaluators`` measured and the ``columns`` each holds)."""
    missing, unseen = row_flags(frame, schema)
    data: dict[str, Any] = {"kind": list(kinds), "missing": missing, "unseen": unseen}
    columns = list(score_columns(native))
    data.update({f"native_{k}": v for k, v in score_columns(native).items()})
    for evaluator, prediction in outputs.items():
        data.update({f"{evaluator}_{k}": v for k, v in score_columns(prediction).items()})
    pd.DataFrame(data).to_parquet(path, index=False)
    return {"evaluators": list(outputs), "columns": columns}
