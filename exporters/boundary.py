"""Validation at the export boundary: a user error becomes one line that says what to change.

Everything here runs before any conversion, so a pipeline or sample the exporter cannot work with
fails at once with a :class:`~scorebridge.errors.ScorebridgeError` (the CLI prints it as one line and
exits 2), never as a converter's traceback halfway through an export.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exporters.introspect import PipelineInfo, input_columns, pipeline_steps
from scorebridge.engines.native import native_prediction
from scorebridge.errors import PipelineError, SchemaError
from scorebridge.prediction import Prediction


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")


def check_pipeline(pipeline: Any) -> None:
    """A fitted estimator or pipeline that predicts (scikit-learn's own ``check_is_fitted``)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not callable(getattr(pipeline, "predict", None)):
        raise PipelineError(f"cannot export a {type(pipeline).__name__}: pass a fitted scikit-learn Pipeline or "
                            "estimator (one with predict), such as the object you called fit on")
    try:
        check_is_fitted(pipeline)
    except NotFittedError:
        raise PipelineError(f"the {type(pipeline).__name__} is not fitted: call fit(X, y) on it before "
                            "exporting") from None
    except TypeError as exc:  # not a scikit-learn estimator at all
        raise PipelineError(f"cannot export a {type(pipeline).__name__}: {_first_line(exc)}") from None


def check_sample_columns(pipeline: Any, sample: Any, target: str | None) -> None:
    """The sample holds the columns the pipeline was fitted on, and not the target among them.

    A pipeline fitted on a DataFrame remembers its columns, and extra sample columns are ignored. One
    fitted on a NumPy array (no names) reads the sample's columns by position, so they must be
    exactly as many as it was fitted on.
    """
    if not isinstance(sample, pd.DataFrame):
        return  # the introspection says what a sample must be
    columns = input_columns(pipeline, sample)
    fitted = getattr(pipeline, "n_features_in_", None)
    named = list(map(str, sample.columns)) != columns or _has_feature_names(pipeline)
    label = target or "y"  # the exporter's default target name
    hint = f" (is the target column {label!r} still in it?)" if label in sample.columns else ""
    if not named and isinstance(fitted, (int, np.integer)) and fitted != len(columns):
        raise SchemaError(f"the sample has {len(columns)} columns but the pipeline was fitted on {fitted} unnamed "
                          f"features{hint}: pass exactly the columns it was fitted on, in that order")
    if target and target in columns:
        if named:
            raise SchemaError(f"{target!r} is both the target and an input the pipeline was fitted on: name the "
                              "target differently (target=..., --target)", field=target)
        raise SchemaError(f"the sample holds the target column {target!r}: drop it (the sample is the raw "
                          "inputs only)", field=target)


def _has_feature_names(pipeline: Any) -> bool:
    first = pipeline_steps(pipeline)[0][1]
    return any(getattr(obj, attr, None) is not None for obj in (pipeline, first)
               for attr in ("feature_names_in_", "active_fields", "built_features"))


def check_sample_values(sample: pd.DataFrame, info: PipelineInfo) -> None:
    """No missing value where the native pipeline cannot take one (the schema measured which)."""
    bad = [f.name for f in info.schema.fields if not f.nullable and sample[f.name].isna().any()]
    if bad:
        counts = ", ".join(f"{name} ({int(sample[name].isna().sum())} rows)" for name in bad)
        raise SchemaError(f"the sample has missing values in {counts}, which the pipeline cannot score (its "
                          f"{type(info.estimator).__name__} raises on a missing value there): drop or fill those "
                          "rows, or add an imputer for those columns to the pipeline", field=bad[0])


def native_outputs(pipeline: Any, verify: pd.DataFrame, info: PipelineInfo, edge_kinds: list[str]) -> Prediction:
    """The native pipeline's outputs on the verification rows; a failure says which rows and why.

    ``edge_kinds`` labels the edge rows at the end of ``verify`` (``"missing c1"``, ``"unseen c1"``).
    """
    try:
        return native_prediction(pipeline, verify, info.task, info.classes)
    except Exception as exc:  # the native pipeline raises whatever its steps raise
        reason = _first_line(exc)
    n_sample = len(verify) - len(edge_kinds)
    try:
        native_prediction(pipeline, verify.iloc[:n_sample], info.task, info.classes)
    except Exception:
        raise PipelineError(f"the fitted pipeline cannot score the sample ({reason}): pass a sample of the "
                            "raw inputs it was fitted on") from None
    failing = []
    for i, kind in enumerate(edge_kinds):
        try:
            native_prediction(pipeline, verify.iloc[[n_sample + i]], info.task, info.classes)
        except Exception:
            failing.append(kind)
    unseen = [k.removeprefix("unseen ") for k in failing if k.startswith("unseen ")]
    if unseen:
        raise PipelineError(f"the fitted pipeline raises on a category it did not see in training in "
                            f"{', '.join(unseen)} ({reason}); a served model must score one: make its encoder "
                            "accept them (OneHotEncoder(handle_unknown='ignore'), OrdinalEncoder(handle_unknown="
                            "'use_encoded_value', unknown_value=-1))")
    rows = ", ".join(failing) or "edge"
    raise PipelineError(f"the fitted pipeline cannot score the verification row(s) with a {rows} ({reason})")
