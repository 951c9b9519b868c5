"""The explicit support check: every step of a pipeline must have a faithful PMML *and* ONNX conversion.

Run before any conversion so an unsupported pipeline fails at once with a message that names the
step (by its path in the pipeline) and says what to use instead. What is listed here is what
``tests/exporters`` proves and ``docs/support-matrix.md`` measures.
"""

from __future__ import annotations

import math
from typing import Any

from scorebridge.errors import UnsupportedPipelineError

SUPPORTED_STEPS = ("SimpleImputer", "StandardScaler", "MinMaxScaler", "OneHotEncoder(handle_unknown='ignore')",
                   "OrdinalEncoder(handle_unknown='use_encoded_value')", "PCA", "ColumnTransformer",
                   "DataFrameMapper", "Pipeline", "PMMLPipeline")
SUPPORTED_ESTIMATORS = ("LogisticRegression", "LinearRegression", "DecisionTreeClassifier",
                        "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
                        "GradientBoostingClassifier", "GradientBoostingRegressor", "XGBClassifier",
                        "XGBRegressor", "LGBMClassifier", "LGBMRegressor")
_XGB_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror")
_LGBM_OBJECTIVES = (None, "binary", "multiclass", "regression", "l2")
_IMPUTER_STRATEGIES = ("mean", "median", "most_frequent", "constant")


def _unsupported(path: str, problem: str, instead: str) -> UnsupportedPipelineError:
    return UnsupportedPipelineError(f"unsupported pipeline step {path}: {problem}; {instead}")


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_supported(pipeline: Any) -> None:
    """Raise :class:`UnsupportedPipelineError` unless every step of ``pipeline`` is supported.

    ``pipeline`` is a fitted (PMML)Pipeline, or a bare supported estimator.
    """
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        _check_estimator(pipeline, type(pipeline).__name__)
        return
    if not steps:
        raise UnsupportedPipelineError("the pipeline has no steps")
    for name, step in steps[:-1]:
        _check_transformer(step, f"'{name}'")
    name, estimator = steps[-1]
    _check_estimator(estimator, f"'{name}'")


def _check_transformer(step: Any, path: str) -> None:
    """One preprocessing step (recursing into Pipelines, ColumnTransformers and DataFrameMappers)."""
    if step is None or step in ("passthrough", "drop"):
        return
    kind = type(step).__name__
    here = f"{path} ({kind})"
    if isinstance(step, list):  # a DataFrameMapper feature's transformer chain
        for i, sub in enumerate(step):
            _check_transformer(sub, f"{path}[{i}]")
    elif kind in ("Pipeline", "PMMLPipeline", "TransformerPipeline"):  # the last wraps DataFrameMapper lists
        for name, sub in step.steps:
            _check_transformer(sub, f"{path} > '{name}'")
    elif kind == "ColumnTransformer":
        for name, sub, _ in step.transformers_:
            _check_transformer(sub, f"{path} > '{name}'")
    elif kind == "DataFrameMapper":
        if step.default is not False:
            raise _unsupported(here, f"default={step.default!r} maps unlisted columns implicitly",
                               "list every input column in the mapper (default=False)")
        for feature in step.built_features:
            columns = feature[0] if isinstance(feature[0], str) else ", ".join(map(str, feature[0]))
            _check_transformer(feature[1], f"{path} > [{columns}]")
    elif kind == "SimpleImputer":
        if not _is_nan(step.missing_values):
            raise _unsupported(here, f"missing_values={step.missing_values!r}",
                               "use missing_values=np.nan (missing values arrive as NaN)")
        if step.add_indicator:
            raise _unsupported(here, "add_indicator=True has no converter", "use add_indicator=False")
        if step.strategy not in _IMPUTER_STRATEGIES:
            raise _unsupported(here, f"strategy={step.strategy!r}", f"use one of {_IMPUTER_STRATEGIES}")
    elif kind in ("StandardScaler", "MinMaxScaler", "PCA"):
        return
    elif kind == "FunctionTransformer" and step.func is None and step.inverse_func is None:
        return  # what a fitted ColumnTransformer makes of "passthrough"
    elif kind == "OneHotEncoder":
        _check_encoder(step, here, "ignore", "handle_unknown='ignore'")
        if step.drop is not None:
            raise _unsupported(here, f"drop={step.drop!r}", "use drop=None")
    elif kind == "OrdinalEncoder":
        _check_encoder(step, here, "use_encoded_value",
                       "handle_unknown='use_encoded_value', unknown_value=-1")
    elif "Domain" in kind and type(step).__module__.startswith("sklearn2pmml"):
        raise _unsupported(here, "sklearn2pmml Domain decorators have no ONNX conversion",
                           "remove it: the bundle's manifest records each input's type and categories")
    else:
        raise _unsupported(here, "no faithful PMML and ONNX conversion",
                           f"use one of {', '.join(SUPPORTED_STEPS)}")


def _check_encoder(step: Any, here: str, handle_unknown: str, fix: str) -> None:
    if step.handle_unknown != handle_unknown:
        raise _unsupported(here, f"handle_unknown={step.handle_unknown!r} fails on a category not seen in "
                           "training", f"use {fix}")
    if getattr(step, "max_categories", None) is not None or getattr(step, "min_frequency", None) is not None:
        raise _unsupported(here, "infrequent-category grouping has no PMML conversion",
                           "use max_categories=None, min_frequency=None")
    for categories in getattr(step, "categories_", []):
        if any(_is_nan(c) for c in categories):
            raise _unsupported(here, "it learned missing values as a category, which PMML and ONNX cannot "
                               "encode the same way", "put SimpleImputer(strategy='constant', "
                               "fill_value='missing') before it")


def _check_estimator(estimator: Any, path: str) -> None:
    kind = type(estimator).__name__
    here = f"{path} ({kind})"
    if kind not in SUPPORTED_ESTIMATORS:
        raise _unsupported(here, "estimator not supported", f"use one of {', '.join(SUPPORTED_ESTIMATORS)}")
    if kind.startswith("XGB"):
        params = estimator.get_params()
        if params.get("enable_categorical"):
            raise _unsupported(here, "enable_categorical=True", "one-hot or ordinal encode categories before it")
        if params.get("booster") not in (None, "gbtree"):
            raise _unsupported(here, f"booster={params['booster']!r}", "use booster='gbtree'")
        objective = params.get("objective") or ("binary:logistic" if kind == "XGBClassifier" else
                                                "reg:squarederror")
        if objective not in _XGB_OBJECTIVES:
            raise _unsupported(here, f"objective={objective!r}", f"use one of {_XGB_OBJECTIVES}")
    elif kind.startswith("LGBM"):
        if estimator.get_params().get("objective") not in _LGBM_OBJECTIVES:
            raise _unsupported(here, f"objective={estimator.objective!r}", "use the default objective")
    elif kind.startswith("GradientBoosting") and estimator.init not in (None, "zero"):
        raise _unsupported(here, "a custom init estimator", "use init=None")
