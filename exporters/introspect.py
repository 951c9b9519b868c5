"""Read what a fitted pipeline is: its task, classes, model family and raw input schema."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scorebridge.errors import SchemaError
from scorebridge.schema import Field, InputSchema

# Estimator class name prefix -> model family (drives default tolerances, see fidelity.py)
_FAMILIES = [
    ("XGB", "xgboost"), ("LGBM", "lightgbm"), ("GradientBoosting", "gbdt"), ("HistGradientBoosting", "gbdt"),
    ("RandomForest", "forest"), ("ExtraTrees", "forest"), ("DecisionTree", "tree"),
    ("LogisticRegression", "linear"), ("LinearRegression", "linear"), ("Ridge", "linear"),
    ("Lasso", "linear"), ("ElasticNet", "linear"), ("SGD", "linear"),
]


@dataclass
class PipelineInfo:
    """What the exporter needs to know about a fitted pipeline."""

    steps: list[tuple[str, Any]]
    estimator: Any
    task: str
    classes: list
    family: str
    schema: InputSchema
    target: str


def pipeline_steps(pipeline: Any) -> list[tuple[str, Any]]:
    """``(name, step)`` pairs of a Pipeline/PMMLPipeline, or one pair for a bare estimator."""
    steps = getattr(pipeline, "steps", None)
    return list(steps) if steps is not None else [("estimator", pipeline)]


def model_family(estimator: Any) -> str:
    """The estimator's family (default tolerances, see fidelity.py); ``"other"`` for any other estimator:
    the converters decide whether it converts."""
    name = type(estimator).__name__
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return "other"


def _py(value: Any) -> Any:
    """NumPy scalars to plain Python (for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def encoder_categories(first_step: Any) -> dict[str, list]:
    """Categories seen in training per raw input column, from OneHot/Ordinal encoders inside the
    first step (ColumnTransformer or DataFrameMapper)."""
    found: dict[str, list] = {}

    def visit(transformer: Any, columns: list[str]) -> None:
        for step in pipeline_steps(transformer) if hasattr(transformer, "steps") else [(None, transformer)]:
            est = step[1] if isinstance(step, tuple) else step
            if isinstance(est, list):  # DataFrameMapper allows a list of transformers
                for sub in est:
                    visit(sub, columns)
                continue
            cats = getattr(est, "categories_", None)
            if cats is not None and len(cats) == len(columns):
                for col, values in zip(columns, cats):
                    found[col] = [_py(v) for v in values if not _is_missing(_py(v))]

    if hasattr(first_step, "transformers_"):
        for _, trans, cols in first_step.transformers_:
            if isinstance(cols, str):
                cols = [cols]
            if not isinstance(trans, str):
                visit(trans, [c for c in cols if isinstance(c, str)])
    elif hasattr(first_step, "built_features"):
        for feature in first_step.built_features:
            cols, trans = feature[0], feature[1]
            cols = [cols] if isinstance(cols, str) else list(cols)
            if trans is not None:
                visit(trans if not isinstance(trans, list) else _Chain(trans), cols)
    return found


class _Chain:
    """A DataFrameMapper transformer list seen as pipeline steps."""

    def __init__(self, transformers: list) -> None:
        self.steps = [(str(i), t) for i, t in enumerate(transformers)]


def input_columns(pipeline: Any, sample: pd.DataFrame) -> list[str]:
    """The raw columns the pipeline reads, in the order it learned them."""
    first = pipeline_steps(pipeline)[0][1]
    names = getattr(pipeline, "active_fields", None)  # PMMLPipeline: the raw columns, in fit order
    if names is None:
        names = getattr(first, "feature_names_in_", None)
    if names is None:
        names = getattr(pipeline, "feature_names_in_", None)
    if names is None and hasattr(first, "built_features"):
        names = []
        for feature in first.built_features:
            cols = [feature[0]] if isinstance(feature[0], str) else list(feature[0])
            names.extend(c for c in cols if c not in names)
    if names is None:
        names = list(sample.columns)
    return [str(n) for n in names]


def _dtype_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_float_dtype(series):
        return "float64"
    if pd.api.types.is_numeric_dtype(series):
        return "float64"
    return "string"


def infer_schema(pipeline: Any, sample: pd.DataFrame) -> InputSchema:
    """The input schema from the sample's column types and the fitted encoders' categories.

    ``nullable`` is measured: a field is nullable when the native pipeline scores a row whose value
    there is missing without raising.
    """
    columns = input_columns(pipeline, sample)
    missing = [c for c in columns if c not in sample.columns]
    if missing:
        raise SchemaError(f"the sample lacks column(s) {', '.join(map(repr, missing))} that the pipeline was "
                          "fitted on; pass a sample of the raw training inputs", field=missing[0])
    categories = encoder_categories(pipeline_steps(pipeline)[0][1])
    fields = []
    for col in columns:
        dtype = _dtype_of(sample[col])
        if dtype == "string":
            bad = [v for v in sample[col].dropna().tolist() if not isinstance(v, str)]
            if bad:
                raise SchemaError(f"sample column {col!r} mixes strings with {type(bad[0]).__name__} values "
                                  f"(e.g. {bad[0]!r}); give it one type", field=col)
        categorical = dtype == "string" or col in categories
        cats = categories.get(col) if categorical else None
        if categorical and cats is None:
            cats = sorted({_py(v) for v in sample[col].dropna().tolist()}, key=str)
        fields.append(Field(col, dtype, "categorical" if categorical else "continuous",
                            tuple(cats) if cats is not None else None, True))
    probe = sample[columns].head(1).copy()
    nullable = []
    for f in fields:
        row = probe.copy()
        row[f.name] = pd.Series([np.nan], index=row.index, dtype=object if f.dtype == "string" else float)
        try:
            _native_call(pipeline, row)
            nullable.append(f)
        except Exception:  # the native pipeline rejects a missing value here
            nullable.append(Field(f.name, f.dtype, f.optype, f.categories, False))
    return InputSchema(nullable)


def _native_call(pipeline: Any, frame: pd.DataFrame) -> Any:
    fn = getattr(pipeline, "predict_proba", None) or pipeline.predict
    return fn(frame)


def inspect_pipeline(pipeline: Any, sample: pd.DataFrame, target: str | None = None) -> PipelineInfo:
    """Everything the exporter needs: steps, estimator, task, classes, family, schema, target name."""
    if not isinstance(sample, pd.DataFrame) or sample.empty:
        raise SchemaError("the sample must be a non-empty pandas DataFrame of raw inputs")
    steps = pipeline_steps(pipeline)
    estimator = steps[-1][1]
    family = model_family(estimator)
    from sklearn.base import is_classifier

    if is_classifier(estimator):
        task, classes = "classification", [_py(c) for c in estimator.classes_]
    else:
        task, classes = "regression", []
    target_fields = getattr(pipeline, "target_fields", None)
    if target is None and target_fields is not None and np.atleast_1d(target_fields).size == 1:
        target = str(np.atleast_1d(target_fields)[0])
    return PipelineInfo(steps, estimator, task, classes, family, infer_schema(pipeline, sample), target or "y")
