"""Read what a fitted pipeline is: its task, classes, model family and raw input schema."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scorebridge.errors import SchemaError
from scorebridge.schema import Field, InputSchema

log = logging.getLogger(__name__)

# Estimator class name prefix -> model family (default tolerances, see fidelity.py; the float32 cast
# in front of tree models, see onnx.py). First match wins, so longer prefixes come first.
_FAMILIES = [
    ("XGB", "xgboost"), ("LGBM", "lightgbm"), ("HistGradientBoosting", "hist_gbdt"),
    ("GradientBoosting", "gbdt"), ("RandomForest", "forest"), ("ExtraTrees", "forest"),
    ("DecisionTree", "tree"), ("ExtraTree", "tree"), ("IsolationForest", "isolation_forest"),
    ("AdaBoost", "ensemble"), ("Bagging", "ensemble"), ("Voting", "ensemble"), ("Stacking", "ensemble"),
    ("CalibratedClassifierCV", "ensemble"),
    ("KNeighbors", "knn"), ("RadiusNeighbors", "knn"), ("NearestCentroid", "knn"),
    ("GaussianNB", "naive_bayes"), ("MultinomialNB", "naive_bayes"), ("BernoulliNB", "naive_bayes"),
    ("ComplementNB", "naive_bayes"), ("CategoricalNB", "naive_bayes"),
    ("MLP", "mlp"), ("SVC", "svm"), ("SVR", "svm"), ("NuSVC", "svm"), ("NuSVR", "svm"), ("OneClassSVM", "svm"),
    ("LinearSVC", "linear"), ("LinearSVR", "linear"), ("LogisticRegression", "linear"),
    ("LinearRegression", "linear"), ("Ridge", "linear"), ("Lasso", "linear"), ("ElasticNet", "linear"),
    ("SGD", "linear"), ("Huber", "linear"), ("Poisson", "linear"), ("Gamma", "linear"), ("Tweedie", "linear"),
    ("Lars", "linear"), ("LassoLars", "linear"), ("BayesianRidge", "linear"), ("ARDRegression", "linear"),
    ("PassiveAggressive", "linear"), ("Perceptron", "linear"), ("QuantileRegressor", "linear"),
    ("OrthogonalMatchingPursuit", "linear"), ("TheilSen", "linear"), ("LinearDiscriminantAnalysis", "linear"),
]
# Model selection wrappers whose fitted best estimator is what predicts
_SEARCHES = ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV")


@dataclass
class PipelineInfo:
    """What the exporter needs to know about a fitted pipeline.

    ``task`` is ``classification``, ``regression`` or ``anomaly`` (an outlier detector's
    ``decision_function``: negative for outliers). ``steps`` are the pipeline's steps with
    model-selection wrappers replaced by their best estimator and a pipeline nested as the last step
    flattened; ``sample`` is the export sample as a DataFrame (a NumPy sample gets the columns
    ``x0, x1, ...``); ``notes`` are facts the export reports to the user (such as generated input
    names).
    """

    steps: list[tuple[str, Any]]
    estimator: Any
    task: str
    classes: list
    family: str
    schema: InputSchema
    target: str
    sample: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def probabilities(self) -> bool:
        """Whether the classifier predicts probabilities (LinearSVC, RidgeClassifier do not)."""
        return self.task == "classification" and hasattr(self.estimator, "predict_proba")


def unwrap(model: Any) -> Any:
    """The best estimator of a fitted GridSearchCV/RandomizedSearchCV (recursively), else ``model``."""
    while type(model).__name__ in _SEARCHES and hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    return model


def pipeline_steps(pipeline: Any) -> list[tuple[str, Any]]:
    """``(name, step)`` pairs of a Pipeline/PMMLPipeline, or one pair for a bare estimator.

    Search wrappers give their best estimator, ``"passthrough"``/``None`` steps are dropped and a
    pipeline in last place is flattened, so the last pair is always the predicting estimator.
    """
    pipeline = unwrap(pipeline)
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        return [("estimator", pipeline)]
    out = [(name, step) for name, step in steps if step is not None and not isinstance(step, str)]
    if not out:
        return []
    name, last = out[-1]
    last = unwrap(last)
    if hasattr(last, "steps"):
        return out[:-1] + pipeline_steps(last)
    return out[:-1] + [(name, last)]


def model_family(estimator: Any) -> str:
    """The estimator's family (default tolerances, see fidelity.py); ``"other"`` for any other estimator:
    the converters decide whether it converts. A TransformedTargetRegressor is its regressor's family."""
    estimator = unwrap(estimator)
    if type(estimator).__name__ == "TransformedTargetRegressor" and hasattr(estimator, "regressor_"):
        return model_family(estimator.regressor_)
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


def column_encoders(first_step: Any, columns: list[str]) -> dict[str, tuple[Any, int]]:
    """``{raw column: (encoder, index of the column among the encoder's inputs)}`` for the
    OneHot/Ordinal/Target encoders inside the first step (ColumnTransformer or DataFrameMapper), or
    the first step itself when it encodes every column. ``columns`` are the pipeline's inputs
    (integer column selectors index them)."""
    found: dict[str, tuple[Any, int]] = {}

    def visit(transformer: Any, names: list[str]) -> None:
        for step in pipeline_steps(transformer) if hasattr(transformer, "steps") else [(None, transformer)]:
            est = step[1] if isinstance(step, tuple) else step
            if isinstance(est, list):  # DataFrameMapper allows a list of transformers
                for sub in est:
                    visit(sub, names)
                continue
            cats = getattr(est, "categories_", None)
            if cats is not None and len(cats) == len(names):
                for j, col in enumerate(names):
                    found[col] = (est, j)

    if hasattr(first_step, "transformers_"):
        for _, trans, cols in first_step.transformers_:
            cols = [cols] if isinstance(cols, (str, int, np.integer)) else list(cols)
            cols = [columns[c] if isinstance(c, (int, np.integer)) and not isinstance(c, bool) else c for c in cols]
            if not isinstance(trans, str):
                visit(trans, [str(c) for c in cols])
    elif hasattr(first_step, "built_features"):
        for feature in first_step.built_features:
            cols, trans = feature[0], feature[1]
            cols = [cols] if isinstance(cols, str) else list(cols)
            if trans is not None:
                visit(trans if not isinstance(trans, list) else _Chain(trans), cols)
    else:
        visit(first_step, columns)
    return found


def encoder_categories(first_step: Any, columns: list[str]) -> dict[str, list]:
    """Categories seen in training per raw input column (see :func:`column_encoders`), without the
    missing value an encoder may have learned as a category."""
    return {col: [_py(v) for v in enc.categories_[j] if not _is_missing(_py(v))]
            for col, (enc, j) in column_encoders(first_step, columns).items()}


class _Chain:
    """A DataFrameMapper transformer list seen as pipeline steps."""

    def __init__(self, transformers: list) -> None:
        self.steps = [(str(i), t) for i, t in enumerate(transformers)]


def input_columns(pipeline: Any, sample: pd.DataFrame) -> list[str]:
    """The raw columns the pipeline reads, in the order it learned them."""
    first = pipeline_steps(pipeline)[0][1]
    pipeline = unwrap(pipeline)
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
    from scorebridge.engines.native import pandas_categories

    categories = {**encoder_categories(pipeline_steps(pipeline)[0][1], columns), **pandas_categories(pipeline)}
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
    return InputSchema([_strictness(pipeline, probe, f) for f in nullable])


def _strictness(pipeline: Any, probe: pd.DataFrame, f: Field) -> Field:
    """``f`` marked strict when the native pipeline raises on a category it did not see in training
    (``OneHotEncoder``/``OrdinalEncoder`` with their default ``handle_unknown='error'``): every
    consumer then refuses such a value by name instead of the model guessing."""
    if f.optype != "categorical" or not f.categories:
        return f
    from exporters.fidelity import unseen_value

    row = probe.copy()
    row[f.name] = pd.Series([unseen_value(f)], index=row.index, dtype=object if f.dtype == "string" else float)
    try:
        _native_call(pipeline, row)
        return f
    except Exception:  # the encoder refuses an unknown category
        return Field(f.name, f.dtype, f.optype, f.categories, f.nullable, strict=True)


def _native_call(pipeline: Any, frame: pd.DataFrame) -> Any:
    from scorebridge.engines.native import as_native_frame

    fn = getattr(pipeline, "predict_proba", None) or pipeline.predict
    return fn(as_native_frame(pipeline, frame))


def sample_frame(pipeline: Any, sample: Any) -> tuple[pd.DataFrame, list[str]]:
    """The export sample as a DataFrame, and notes for the user.

    A pipeline fitted on a NumPy array has no column names: its inputs are named ``x0, x1, ...``
    (scikit-learn's own names for them), whether the sample is an array or a DataFrame of as many
    columns.
    """
    notes: list[str] = []
    if isinstance(sample, np.ndarray) and sample.ndim == 2:
        if hasattr(unwrap(pipeline), "feature_names_in_"):
            names = [str(n) for n in unwrap(pipeline).feature_names_in_]
            if len(names) != sample.shape[1]:
                raise SchemaError(f"the sample has {sample.shape[1]} columns but the pipeline was fitted on "
                                  f"{len(names)} ({', '.join(names)})")
        else:
            names = [f"x{i}" for i in range(sample.shape[1])]
            notes.append(f"the pipeline was fitted on a NumPy array: its inputs are named x0 ... "
                         f"x{sample.shape[1] - 1} in column order")
            log.warning("%s", notes[-1])
        sample = pd.DataFrame(sample, columns=names)
    if not isinstance(sample, pd.DataFrame) or sample.empty:
        raise SchemaError("the sample must be a non-empty pandas DataFrame (or 2-D NumPy array) of raw inputs")
    return sample, notes


def inspect_pipeline(pipeline: Any, sample: Any, target: str | None = None) -> PipelineInfo:
    """Everything the exporter needs: steps, estimator, task, classes, family, schema, target name and
    the sample as a DataFrame (``info.sample``)."""
    sample, notes = sample_frame(pipeline, sample)
    steps = pipeline_steps(pipeline)
    if not steps:
        raise SchemaError("the pipeline has no steps")
    estimator = steps[-1][1]
    family = model_family(estimator)
    from sklearn.base import is_classifier, is_outlier_detector

    if is_classifier(estimator):
        task, classes = "classification", [_py(c) for c in estimator.classes_]
    elif is_outlier_detector(estimator) and hasattr(estimator, "decision_function"):
        task, classes = "anomaly", []
    else:
        task, classes = "regression", []
    target_fields = getattr(pipeline, "target_fields", None)
    if target is None and target_fields is not None and np.atleast_1d(target_fields).size == 1:
        target = str(np.atleast_1d(target_fields)[0])
    return PipelineInfo(steps, estimator, task, classes, family, infer_schema(pipeline, sample), target or "y",
                        sample=sample, notes=notes)
