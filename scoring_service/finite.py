"""Every answer is a number: inputs stay within what a model's artifact computes, answers are finite.

ONNX and PMML artifacts compute in float32, whose largest value is about 3.4e38. A JSON ``1e39`` or
``Infinity`` becomes infinity inside them, and so can a large value once a scaler or a linear step
has multiplied it; a linear model then answers NaN probabilities (``null`` in JSON). So every
numeric input must be a finite number of magnitude at most :data:`MAX_MAGNITUDE` (1e30: float32's
range less eight decimal orders for the arithmetic on it), whatever the engine, and the OpenAPI
schema says so (``minimum``/``maximum``). A value beyond it is a 400 ``out_of_range`` naming the
field and record. The v1 JSON fast path checks the bound while decoding (msgspec constraints, in
C); the validating paths (JSON, CSV, V2) call :func:`check_range`. An answer that is not finite
anyway is the engine's fault: a 500, which callers treat as "use the default".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns, InputSchema
from scoring_service.errors import ApiError

MAX_MAGNITUDE = 1e30


def check_range(schema: InputSchema, columns: Columns) -> Columns:
    """``columns``, if every numeric value is within ±:data:`MAX_MAGNITUDE` (NaN: missing); else a 400
    naming the first record (and its field) that is not."""
    first: tuple[int, str] | None = None
    for f in schema.fields:
        if f.is_numeric:
            beyond = np.abs(columns[f.name]) > MAX_MAGNITUDE  # NaN compares False
            if beyond.any():
                i = int(np.argmax(beyond))
                if first is None or i < first[0]:
                    first = (i, f.name)
    if first is not None:
        i, name = first
        value = float(columns[name][i])
        raise ApiError(400, "out_of_range", f"field {name!r} is {value!r} in record {i}: numbers must be finite and "
                       f"within ±{MAX_MAGNITUDE:g}, which the model's float32 artifact computes with (send null for a "
                       "missing value)", field=name, record=i)
    return columns


def scored(columns: Columns, predict: Callable[[Columns], Prediction]) -> Prediction:
    """``predict(columns)``, refusing to pass on an answer that is not finite (an engine fault)."""
    prediction = predict(columns)
    scores = prediction.probabilities if prediction.probabilities is not None else prediction.values
    # the sum is finite when every score is (NaN and infinities carry through it): one reduction; a
    # sum that overflowed from finite scores falls to the exact test
    if not math.isfinite(np.add.reduce(scores, axis=None)) and not np.isfinite(scores).all():
        rows = scores.reshape(len(prediction), -1)
        record = int(np.argmax(~np.isfinite(rows).all(axis=1)))
        raise EngineError(f"the engine scored record {record} as {rows[record].tolist()}, which is not a number")
    return prediction
