"""ONNX export through skl2onnx (+ onnxmltools for XGBoost and LightGBM).

The ONNX model takes one input per raw column (``[None, 1]``): numeric columns as float64, string
columns as strings with missing values fed as ``MISSING_STRING``. Preprocessing runs in float64 like
scikit-learn does, then the features are cast to float32 in front of tree models, which is exactly
what XGBoost and scikit-learn trees do natively: a float32 preprocessing chain would land values one
ulp off XGBoost's split thresholds (which sit *on* data values) and flip splits. ONNX Runtime's
``Imputer`` has no double kernel, so numeric ``SimpleImputer`` steps are converted here to
``Where(IsNaN(x), statistics, x)``. sklearn-pandas ``DataFrameMapper`` has no skl2onnx converter; a
parser here maps it onto the same ONNX graph a ``ColumnTransformer`` produces.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from exporters.introspect import PipelineInfo
from scorebridge.errors import ConversionError

MISSING_STRING = ""
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
_REGISTERED = False


def register_converters() -> None:
    """Teach skl2onnx XGBoost, LightGBM and DataFrameMapper (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx._parse import update_registered_parser
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
                                    convert_xgboost, options=classifier_options)
        update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
                                    convert_xgboost)
    except ImportError:
        pass
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                    convert_lightgbm, options=classifier_options)
        update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                    convert_lightgbm, options={"split": None})
    except ImportError:
        pass
    _register_imputer()
    try:
        from scorebridge.compat import install_sklearn_pandas_shim

        install_sklearn_pandas_shim()
        from sklearn_pandas import DataFrameMapper

        update_registered_parser(DataFrameMapper, _parse_dataframe_mapper)
    except ImportError:
        pass
    _REGISTERED = True


def _register_imputer() -> None:
    """Replace skl2onnx's SimpleImputer converter for numeric inputs (strings keep the original)."""
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter
    from skl2onnx.common.data_types import StringTensorType, guess_numpy_type
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import SimpleImputer

    string_converter = get_converter("SklearnSimpleImputer")

    def convert(scope: Any, operator: Any, container: Any) -> None:
        if isinstance(operator.inputs[0].type, StringTensorType):
            string_converter(scope, operator, container)
            return
        dtype = guess_numpy_type(operator.inputs[0].type)
        if dtype not in (np.float32, np.float64):
            raise ConversionError(f"SimpleImputer on {dtype} inputs is not supported; feed float64")
        x = concatenate_variables(scope, operator.inputs, container)
        stats = scope.get_unique_variable_name("imputer_statistics")
        container.add_initializer(stats, TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT,
                                  [len(operator.raw_operator.statistics_)],
                                  operator.raw_operator.statistics_.astype(dtype).tolist())
        isnan = scope.get_unique_variable_name("imputer_isnan")
        container.add_node("IsNaN", [x], [isnan], name=scope.get_unique_operator_name("IsNaN"))
        container.add_node("Where", [isnan, stats, x], [operator.outputs[0].full_name],
                           name=scope.get_unique_operator_name("Where"))

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer", calculate_sklearn_imputer_output_shapes,
                                convert)


def _parse_dataframe_mapper(scope: Any, model: Any, inputs: list, custom_parsers: Any = None) -> list:
    """skl2onnx parser for a fitted ``DataFrameMapper``: select, transform, concatenate.

    Mirrors skl2onnx's ColumnTransformer parser: each built feature takes its columns (one ONNX
    input each), merges them, runs its transformer chain (``None`` passes through), and the results
    are concatenated in feature order, as ``DataFrameMapper.transform`` does.
    """
    from skl2onnx._parse import _parse_sklearn

    by_name = {var.onnx_name: var for var in inputs}
    by_raw = {getattr(var, "raw_name", var.onnx_name): var for var in inputs}
    outputs = []
    for feature in model.built_features:
        columns, transformers = feature[0], feature[1]
        columns = [columns] if isinstance(columns, str) else list(columns)
        try:
            variables = [by_raw.get(c) or by_name[c] for c in columns]
        except KeyError as exc:
            raise ConversionError(f"DataFrameMapper selects column {exc.args[0]!r}, which is not a model input") \
                from None
        if len(variables) > 1:
            concat = scope.declare_local_operator("SklearnConcat")
            concat.inputs = variables
            merged = scope.declare_local_variable("merged_columns", variables[0].type.__class__([None, None]))
            concat.outputs.append(merged)
            variables = [merged]
        chain = transformers if isinstance(transformers, list) else [transformers]
        out = variables
        for transformer in chain:
            if transformer is None:
                continue
            out = _parse_sklearn(scope, transformer, out, custom_parsers=custom_parsers)
        outputs.append(out[0])
    if len(outputs) == 1:
        return outputs
    concat = scope.declare_local_operator("SklearnConcat")
    concat.inputs = outputs
    result = scope.declare_local_variable("mapped_columns", outputs[0].type.__class__([None, None]))
    concat.outputs.append(result)
    return concat.outputs


def onnx_ready(pipeline: Any, info: PipelineInfo) -> Any:
    """A copy of the pipeline that skl2onnx can convert, with the same predictions.

    - a PMMLPipeline becomes a plain Pipeline of the same (fitted) steps;
    - string ``SimpleImputer`` steps impute ``MISSING_STRING`` (what the engine feeds for a missing
      string) instead of ``NaN``, which ONNX string tensors cannot hold;
    - tree models get a float32 cast in front of them, as they cast natively (see module docstring).
    """
    from skl2onnx.sklapi import CastTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    steps = copy.deepcopy(info.steps)
    for est in _walk(steps):
        if isinstance(est, SimpleImputer) and getattr(est, "_fit_dtype", None) is not None \
                and est._fit_dtype.kind == "O":
            est.missing_values = MISSING_STRING
    if info.family != "linear":
        steps.insert(len(steps) - 1, ("cast_float32", CastTransformer(dtype=np.float32)))
    return Pipeline(steps) if len(steps) > 1 else steps[0][1]


def _walk(obj: Any):
    """Every estimator nested in steps, ColumnTransformers, DataFrameMappers and lists."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _walk(item[1] if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[0], str)
                             else item)
        return
    if obj is None or isinstance(obj, str):
        return
    yield obj
    if hasattr(obj, "steps"):
        yield from _walk(obj.steps)
    if hasattr(obj, "transformers_"):
        yield from _walk([t for _, t, _ in obj.transformers_])
    if hasattr(obj, "built_features"):
        yield from _walk([f[1] for f in obj.built_features])


def initial_types(info: PipelineInfo) -> list[tuple[str, Any]]:
    """One ``[None, 1]`` input per raw column: float64 numbers, strings."""
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    return [(f.name, DoubleTensorType([None, 1]) if f.is_numeric else StringTensorType([None, 1]))
            for f in info.schema.fields]


def _to_onnx(model: Any, info: PipelineInfo, path: Path, options: dict | None = None) -> list[str]:
    """Convert a (fitted) model with one input per raw column, write it, return its output names."""
    register_converters()
    from skl2onnx import to_onnx

    try:
        onx = to_onnx(model, initial_types=initial_types(info), options=options, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/MissingShapeCalculator
        raise ConversionError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}", format="onnx",
                              converter="skl2onnx") from exc
    path.write_bytes(onx.SerializeToString())
    return [o.name for o in onx.graph.output]


def _input_spec(info: PipelineInfo) -> dict[str, Any]:
    return {
        "inputs": [{"field": f.name, "name": name, "type": "float64" if f.is_numeric else "string"}
                   for f, (name, _) in zip(info.schema.fields, initial_types(info))],
        "missing_string": MISSING_STRING,
        "opset": TARGET_OPSET,
    }


def convert(pipeline: Any, info: PipelineInfo, path: Path) -> dict[str, Any]:
    """Write ``pipeline`` as ONNX to ``path``; returns the manifest's ``onnx`` section."""
    model = onnx_ready(pipeline, info)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if info.task == "classification" else None
    outputs = _to_onnx(model, info, path, options)
    spec = _input_spec(info)
    if info.task == "classification":
        spec.update(label_output=outputs[0], probability_output=outputs[1], prediction_output=None)
    else:
        spec.update(label_output=None, probability_output=None, prediction_output=outputs[0])
    return spec


# XGBoost objectives whose inplace_predict output is what predict_proba / predict return
_FAST_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax", "reg:")


def convert_xgboost_fast_path(pipeline: Any, info: PipelineInfo, preprocess_path: Path,
                              booster_path: Path) -> dict[str, Any] | None:
    """For XGBoost pipelines: the preprocessing alone as ONNX (ending in the float32 features the
    booster sees) and the booster as UBJSON; returns the manifest's ``xgboost`` section, or None
    when the pipeline is not an XGBoost one or its objective is not a plain probability/value."""
    if info.family != "xgboost":
        return None
    booster = info.estimator.get_booster()
    objective = info.estimator.get_xgb_params().get("objective") or ""
    if not objective.startswith(_FAST_OBJECTIVES) or objective == "multi:softmax":
        return None
    model = onnx_ready(pipeline, info)
    if not hasattr(model, "steps") or len(model.steps) < 2:
        return None
    from sklearn.pipeline import Pipeline

    outputs = _to_onnx(Pipeline(model.steps[:-1]), info, preprocess_path)
    booster_path.write_bytes(bytes(booster.save_raw("ubj")))
    return {**_input_spec(info), "output": outputs[0], "objective": objective}
