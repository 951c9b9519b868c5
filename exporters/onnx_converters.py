"""The parsers and converters scorebridge adds to skl2onnx (registered once per process).

- XGBoost and LightGBM through onnxmltools' converters;
- the transformer converters of :mod:`exporters.onnx_transformers` (float64, exact);
- sklearn-pandas ``DataFrameMapper``, which has no skl2onnx converter, parsed onto the same graph a
  ``ColumnTransformer`` produces;
- :class:`RawColumns`, a marker around a model that reads the raw columns as one matrix: its parser
  concatenates the per-column float64 inputs with ``Concat`` first. skl2onnx would otherwise merge
  them with ``FeatureVectorizer``, which only computes in float32 (linear models then drift by ~1e-7),
  or refuse them (a tree's float32 cast takes one input).
"""

from __future__ import annotations

from typing import Any

from exporters import onnx_transformers
from scorebridge.errors import ConversionError

_REGISTERED = False


def register_converters() -> None:
    """Teach skl2onnx XGBoost, LightGBM, DataFrameMapper and :class:`RawColumns` (once per process)."""
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
    onnx_transformers.register()
    _register_tree_missing_routing()
    update_registered_parser(RawColumns, _parse_raw_columns)
    try:
        from scorebridge.compat import install_sklearn_pandas_shim

        install_sklearn_pandas_shim()
        from sklearn_pandas import DataFrameMapper

        update_registered_parser(DataFrameMapper, _parse_dataframe_mapper)
    except ImportError:
        pass
    _REGISTERED = True


# skl2onnx aliases of scikit-learn tree models whose trees route NaN natively (missing_go_to_left)
_NAN_ROUTING_TREES = ("SklearnDecisionTreeClassifier", "SklearnDecisionTreeRegressor", "SklearnExtraTreeClassifier",
                      "SklearnExtraTreeRegressor", "SklearnRandomForestClassifier", "SklearnRandomForestRegressor",
                      "SklearnExtraTreesClassifier", "SklearnExtraTreesRegressor")


def _register_tree_missing_routing() -> None:
    """Carry scikit-learn's learned NaN direction (``tree_.missing_go_to_left``) into the ONNX trees.

    skl2onnx writes ``nodes_missing_value_tracks_true = 0`` for every node of a scikit-learn tree, so
    a NaN always takes the right branch; scikit-learn sends it where training sent missing values
    (or to the larger child). The wrapped converter rewrites that attribute of the tree ensemble it
    emitted, node by node, from the fitted trees (tree ids are the estimators' indices).
    """
    from skl2onnx.common._registration import RegisteredConverter, _converter_pool

    for alias in _NAN_ROUTING_TREES:
        original = _converter_pool[alias]
        _converter_pool[alias] = RegisteredConverter(_with_missing_routing(original), original.get_allowed_options())


def _with_missing_routing(convert: Any) -> Any:
    def converter(scope: Any, operator: Any, container: Any) -> None:
        start = len(container.nodes)
        convert(scope, operator, container)
        model = operator.raw_operator
        trees = [e.tree_ for e in model.estimators_] if hasattr(model, "estimators_") else [model.tree_]
        if not all(hasattr(t, "missing_go_to_left") for t in trees):
            return
        for node in container.nodes[start:]:
            if not node.op_type.startswith("TreeEnsemble"):
                continue
            attrs = {a.name: a for a in node.attribute}
            tracks = [int(trees[t].missing_go_to_left[n]) for t, n in
                      zip(attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints)]
            del attrs["nodes_missing_value_tracks_true"].ints[:]
            attrs["nodes_missing_value_tracks_true"].ints.extend(tracks)

    return converter


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




class RawColumns:
    """Wraps a model (pipeline or estimator) that reads every raw column as one numeric matrix."""

    def __init__(self, model: Any) -> None:
        self.model = model


def _parse_raw_columns(scope: Any, model: RawColumns, inputs: list, custom_parsers: Any = None) -> list:
    """Concatenate the per-column float64 inputs (in schema order) and parse the wrapped model."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    if len(inputs) > 1:
        concat = scope.declare_local_operator("SklearnConcat")
        concat.inputs = inputs
        merged = scope.declare_local_variable("raw_columns", DoubleTensorType([None, len(inputs)]))
        concat.outputs.append(merged)
        inputs = [merged]
    return _parse_sklearn(scope, model.model, inputs, custom_parsers=custom_parsers)
