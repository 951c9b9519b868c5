"""Every answer is a number: an input the model's artifact cannot represent is the caller's 400.

ONNX and PMML artifacts compute in float32, whose largest value is about 3.4e38: a JSON ``1e39``
or ``Infinity`` becomes infinity inside them, and a linear step turns that into NaN probabilities
(``null`` in the answer). Tree models route infinity like any large value and answer as the
native pipeline does, so the inputs are not screened up front (that would cost every request a
pass over every numeric column); the predictions are, in one vectorised check. Predictions that
are not finite, or an engine that fails, are traced back to the out-of-range inputs of the first
record concerned: a 400 naming field and record. Without such an input the fault is the engine's
(500, a fallback for the caller).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns, InputSchema
from scoring_service.errors import ApiError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def scored(schema: InputSchema, columns: Columns, predict: Callable[[Columns], Prediction]) -> Prediction:
    """``predict(columns)``, whose answer holds only finite numbers (see the module docstring)."""
    try:
        prediction = predict(columns)
    except Exception:  # e.g. scikit-learn's "Input X contains infinity" under the native engine
        _refuse_out_of_range(schema, columns, None)
        raise
    scores = prediction.probabilities if prediction.probabilities is not None else prediction.values
    if not np.isfinite(scores).all():
        rows = ~np.isfinite(scores.reshape(len(prediction), -1)).all(axis=1)
        _refuse_out_of_range(schema, columns, rows)
        record = int(np.argmax(rows))
        raise EngineError(f"the engine scored record {record} as {scores.reshape(len(prediction), -1)[record].tolist()}"
                          " (not finite) from inputs within range")
    return prediction


def _refuse_out_of_range(schema: InputSchema, columns: Columns, rows: np.ndarray | None) -> None:
    """400 for the first record (among ``rows``, if given) with an input beyond float32's range."""
    first: tuple[int, str, float] | None = None
    for f in schema.fields:
        if not f.is_numeric:
            continue
        col = columns[f.name]
        beyond = np.abs(col) > FLOAT32_MAX  # NaN (missing) compares False
        if rows is not None:
            beyond &= rows
        if beyond.any():
            i = int(np.argmax(beyond))
            if first is None or i < first[0]:
                first = (i, f.name, float(col[i]))
    if first is not None:
        i, name, value = first
        raise ApiError(400, "out_of_range", f"field {name!r} is {value!r} in record {i}: beyond float32's range "
                       f"(±{FLOAT32_MAX:.4g}), which the model's artifact computes in; send a finite value within "
                       "it, or null for a missing value", field=name, record=i)
