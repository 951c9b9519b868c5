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

import numpy as np

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
                                    _with_logistic_link(convert_xgboost))
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
    _register_hgb_categories()
    update_registered_parser(RawColumns, _parse_raw_columns)
    _register_category_codes()
    _register_transformed_target()
    _register_label_only_linear()
    _register_isotonic_interpolation()
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
                      "SklearnExtraTreesClassifier", "SklearnExtraTreesRegressor", "SklearnIsolationForest")


class _Outputs:
    """An operator seen by a converter with other output names (to add nodes after its own)."""

    def __init__(self, operator: Any, names: list[str]) -> None:
        self._operator = operator
        self.output_full_names = names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._operator, name)


def _with_logistic_link(convert: Any) -> Any:
    """onnxmltools converts ``XGBRegressor(objective='reg:logistic')`` without its link: the trees' sum
    plus the base score as a probability. XGBoost computes ``sigmoid(logit(base_score) + sum)``."""
    def converter(scope: Any, operator: Any, container: Any) -> None:
        if operator.raw_operator.get_xgb_params().get("objective") != "reg:logistic":
            convert(scope, operator, container)
            return
        margin = scope.get_unique_variable_name("margin")
        start = len(container.nodes)
        convert(scope, _Outputs(operator, [margin]), container)
        node = next(n for n in container.nodes[start:] if n.op_type == "TreeEnsembleRegressor")
        base = next(a for a in node.attribute if a.name == "base_values")
        probability = np.asarray(base.floats, dtype=np.float64)
        del base.floats[:]
        base.floats.extend(np.log(probability / (1.0 - probability)).astype(np.float32).tolist())
        container.add_node("Sigmoid", [margin], operator.output_full_names,
                           name=scope.get_unique_operator_name("Sigmoid"))

    return converter


def _after_converters(aliases: tuple[str, ...], fix: Any) -> None:
    """Wrap skl2onnx's converters of ``aliases`` so ``fix(model, nodes)`` edits the ONNX nodes each
    emitted (``model`` is the fitted estimator)."""
    from skl2onnx.common._registration import RegisteredConverter, _converter_pool

    for alias in aliases:
        original = _converter_pool[alias]

        def converter(scope: Any, operator: Any, container: Any, original: Any = original) -> None:
            start = len(container.nodes)
            original(scope, operator, container)
            fix(operator.raw_operator, container.nodes[start:])

        _converter_pool[alias] = RegisteredConverter(converter, original.get_allowed_options())


def _register_tree_missing_routing() -> None:
    """Carry scikit-learn's learned NaN direction (``tree_.missing_go_to_left``) into the ONNX trees.

    skl2onnx writes ``nodes_missing_value_tracks_true = 0`` for every node of a scikit-learn tree, so
    a NaN always takes the right branch; scikit-learn sends it where training sent missing values
    (or to the larger child). The wrapped converter rewrites that attribute of the tree ensemble it
    emitted, node by node, from the fitted trees (tree ids are the estimators' indices).
    """
    _after_converters(_NAN_ROUTING_TREES, _fix_missing_routing)


def _fix_missing_routing(model: Any, nodes: list) -> None:
    trees = [e.tree_ for e in model.estimators_] if hasattr(model, "estimators_") else [model.tree_]
    if not all(hasattr(t, "missing_go_to_left") for t in trees):
        return
    ensembles = [n for n in nodes if n.op_type.startswith("TreeEnsemble")]
    for k, node in enumerate(ensembles):
        attrs = {a.name: a for a in node.attribute}
        # one ensemble of all trees (tree id = estimator index), or one ensemble per tree (IsolationForest)
        per_tree = len(ensembles) == len(trees) > 1
        tracks = [int(trees[k if per_tree else t].missing_go_to_left[n]) for t, n in
                  zip(attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints)]
        del attrs["nodes_missing_value_tracks_true"].ints[:]
        attrs["nodes_missing_value_tracks_true"].ints.extend(tracks)


def _register_hgb_categories() -> None:
    """HistGradientBoosting's categorical splits ("the category is one of these") as chains of
    ``BRANCH_EQ`` nodes: skl2onnx writes them as numeric ``<=`` splits."""
    _after_converters(("SklearnHistGradientBoostingClassifier", "SklearnHistGradientBoostingRegressor"),
                      _fix_categorical_splits)


def _fix_categorical_splits(model: Any, nodes: list) -> None:
    trees = [tree for iteration in model._predictors for tree in iteration]
    if not any(t.nodes["is_categorical"].any() for t in trees):
        return
    for node in nodes:
        if node.op_type.startswith("TreeEnsemble"):
            _expand_categorical_splits(node, trees)


_NODE_LISTS = ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
               "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true", "nodes_hitrates")
_MAX_GROWTH = 50  # categorical splits copy subtrees; refuse an ensemble that would grow beyond this factor


def _expand_categorical_splits(node: Any, trees: list) -> None:
    """Rewrite the trees of a tree-ensemble node so each categorical split ("the category code is one
    of S") becomes a chain of equality tests, one per code in S, each leading to its own copy of the
    left subtree (ONNX trees cannot share a child); the chain's last "no" leads to the right subtree.
    Every test sends NaN where the split does."""
    from onnx import helper

    attrs = {a.name: a for a in node.attribute}
    leaf_keys = [k for k in ("class_treeids", "class_nodeids", "class_ids", "class_weights", "target_treeids",
                             "target_nodeids", "target_ids", "target_weights") if k in attrs]
    prefix = leaf_keys[0].split("_")[0]
    values = {k: list(helper.get_attribute_value(attrs[k])) for k in (*_NODE_LISTS, *leaf_keys) if k in attrs}
    features = {(t, n): f for t, n, f in zip(values["nodes_treeids"], values["nodes_nodeids"],
                                             values["nodes_featureids"])}
    leaves: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for t, n, i, w in zip(values[f"{prefix}_treeids"], values[f"{prefix}_nodeids"], values[f"{prefix}_ids"],
                          values[f"{prefix}_weights"]):
        leaves.setdefault((t, n), []).append((i, w))
    out: dict[str, list] = {k: [] for k in values}

    def emit(t: int, n: int, counter: list[int]) -> int:
        tree_node, new_id = trees[t].nodes[n], counter[0]
        counter[0] += 1
        row = {"nodes_treeids": t, "nodes_nodeids": new_id, "nodes_featureids": features.get((t, n), 0),
               "nodes_hitrates": 1.0, "nodes_missing_value_tracks_true": int(tree_node["missing_go_to_left"])}
        if tree_node["is_leaf"]:
            _append(out, {**row, "nodes_modes": "LEAF", "nodes_values": 0.0, "nodes_truenodeids": 0,
                          "nodes_falsenodeids": 0, "nodes_missing_value_tracks_true": 0})
            for i, w in leaves[(t, n)]:
                _append(out, {f"{prefix}_treeids": t, f"{prefix}_nodeids": new_id, f"{prefix}_ids": i,
                              f"{prefix}_weights": w})
            return new_id
        if not tree_node["is_categorical"]:
            index = len(out["nodes_nodeids"])
            _append(out, {**row, "nodes_modes": "BRANCH_LEQ", "nodes_values": float(tree_node["num_threshold"]),
                          "nodes_truenodeids": -1, "nodes_falsenodeids": -1})
            out["nodes_truenodeids"][index] = emit(t, int(tree_node["left"]), counter)
            out["nodes_falsenodeids"][index] = emit(t, int(tree_node["right"]), counter)
            return new_id
        bits = np.unpackbits(trees[t].raw_left_cat_bitsets[tree_node["bitset_idx"]].view(np.uint8), bitorder="little")
        codes = np.flatnonzero(bits).astype(float).tolist() or [float("-inf")]
        counter[0] -= 1  # the chain's first test takes this node's id
        for code in codes:
            chain_id, index = counter[0], len(out["nodes_nodeids"])
            counter[0] += 1
            _append(out, {**row, "nodes_nodeids": chain_id, "nodes_modes": "BRANCH_EQ", "nodes_values": code,
                          "nodes_truenodeids": -1, "nodes_falsenodeids": -1})
            out["nodes_truenodeids"][index] = emit(t, int(tree_node["left"]), counter)
            out["nodes_falsenodeids"][index] = counter[0]  # the next test, or the right subtree
        emit(t, int(tree_node["right"]), counter)
        return new_id

    for t in sorted(set(values["nodes_treeids"])):
        emit(t, 0, [0])
    if len(out["nodes_nodeids"]) > _MAX_GROWTH * len(values["nodes_nodeids"]):
        raise ConversionError("the categorical splits would grow the trees more than "
                              f"{_MAX_GROWTH}-fold in ONNX (each category copies a subtree)", converter="scorebridge")
    for key, new in out.items():
        kind = attrs[key].type
        del node.attribute[[a.name for a in node.attribute].index(key)]
        node.attribute.append(helper.make_attribute(key, new, attr_type=kind))


def _append(lists: dict[str, list], row: dict[str, Any]) -> None:
    for key, value in row.items():
        if key in lists:
            lists[key].append(value)


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
    """Wraps a model (pipeline or estimator) that reads every raw column as one numeric matrix.

    ``codes`` maps the index of a string input to the categories the model was trained on: that
    column reaches the model as its category's code (its index there), missing and unseen values as
    NaN, which is what XGBoost and LightGBM make of a pandas ``category`` column.
    """

    def __init__(self, model: Any, codes: dict[int, list] | None = None) -> None:
        self.model = model
        self.codes = codes or {}


def _parse_raw_columns(scope: Any, model: RawColumns, inputs: list, custom_parsers: Any = None) -> list:
    """Category codes for string inputs, then the per-column float64 inputs concatenated (in
    schema order), then the wrapped model."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    columns = []
    for i, var in enumerate(inputs):
        if i in model.codes:
            operator = scope.declare_local_operator("ScorebridgeCategoryCodes", model)
            operator.inputs = [var]
            operator.categories = model.codes[i]
            var = scope.declare_local_variable("category_code", DoubleTensorType([None, 1]))
            operator.outputs.append(var)
        columns.append(var)
    if len(columns) > 1:
        concat = scope.declare_local_operator("SklearnConcat")
        concat.inputs = columns
        merged = scope.declare_local_variable("raw_columns", DoubleTensorType([None, len(columns)]))
        concat.outputs.append(merged)
        columns = [merged]
    return _parse_sklearn(scope, model.model, columns, custom_parsers=custom_parsers)


def _convert_category_codes(scope: Any, operator: Any, container: Any) -> None:
    """A string column as the index of its category (float64), NaN for a missing or unseen one."""
    from exporters.onnx_transformers import _Graph

    g = _Graph(scope, container)
    categories = [str(c) for c in operator.categories]
    code = g.node("LabelEncoder", [operator.inputs[0].full_name], domain="ai.onnx.ml", keys_strings=categories,
                  values_floats=[float(i) for i in range(len(categories))], default_float=float("nan"))
    g.node("Cast", [code], operator.outputs[0].full_name, to=11)


def _register_category_codes() -> None:
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from skl2onnx.common.data_types import DoubleTensorType

    def shape(operator: Any) -> None:
        operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])

    register_converter("ScorebridgeCategoryCodes", _convert_category_codes, overwrite=True)
    register_shape_calculator("ScorebridgeCategoryCodes", shape, overwrite=True)


def _register_transformed_target() -> None:
    """``TransformedTargetRegressor``: its regressor, then the inverse of the target transform."""
    from skl2onnx._parse import _parse_sklearn, update_registered_parser
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.compose import TransformedTargetRegressor

    def parse(scope: Any, model: Any, inputs: list, custom_parsers: Any = None) -> list:
        predicted = _parse_sklearn(scope, model.regressor_, inputs, custom_parsers=custom_parsers)
        operator = scope.declare_local_operator("ScorebridgeTargetInverse", model)
        operator.inputs = predicted[:1]
        operator.outputs.append(scope.declare_local_variable("variable", DoubleTensorType([None, 1])))
        return operator.outputs

    def shape(operator: Any) -> None:
        operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])

    register_converter("ScorebridgeTargetInverse", _convert_target_inverse, overwrite=True)
    register_shape_calculator("ScorebridgeTargetInverse", shape, overwrite=True)
    update_registered_parser(TransformedTargetRegressor, parse)


def _convert_target_inverse(scope: Any, operator: Any, container: Any) -> None:
    """``transformer_.inverse_transform`` of the regressor's output: a NumPy ufunc ``inverse_func``,
    the identity, or a fitted StandardScaler."""
    from exporters.onnx_transformers import _UFUNCS, _Graph, ufunc_name

    g = _Graph(scope, container)
    y = g.node("Reshape", [g.matrix(operator), g.const([-1, 1], np.int64)])
    transformer = operator.raw_operator.transformer_
    out = operator.outputs[0].full_name
    if type(transformer).__name__ == "FunctionTransformer":
        inverse = transformer.inverse_func
        if inverse is None:
            g.node("Identity", [y], out)
            return
        name = ufunc_name(inverse)
        if name is None or transformer.inv_kw_args:
            raise ConversionError(f"TransformedTargetRegressor(inverse_func={getattr(inverse, '__name__', inverse)!r}) "
                                  "has no ONNX conversion: use a NumPy ufunc", converter="scorebridge")
        g.node("Identity", [_UFUNCS[name](g, y)], out)
    elif type(transformer).__name__ == "StandardScaler":
        scale = transformer.scale_ if transformer.scale_ is not None else np.ones(1)
        mean = transformer.mean_ if transformer.mean_ is not None else np.zeros(1)
        g.node("Add", [g.node("Mul", [y, g.const(scale.reshape(1, -1))]), g.const(mean.reshape(1, -1))], out)
    else:
        raise ConversionError(f"TransformedTargetRegressor(transformer={type(transformer).__name__}) has no ONNX "
                              "conversion: use func/inverse_func NumPy ufuncs or a StandardScaler",
                              converter="scorebridge")


# Linear classifiers without predict_proba: skl2onnx's converter refuses float64 for them
_LABEL_ONLY_LINEAR = ("LinearSVC", "RidgeClassifier", "RidgeClassifierCV", "Perceptron", "PassiveAggressiveClassifier")


def _register_label_only_linear() -> None:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from sklearn import linear_model, svm

    for name in _LABEL_ONLY_LINEAR:
        cls = getattr(linear_model, name, None) or getattr(svm, name)
        update_registered_converter(cls, f"Scorebridge{name}", calculate_linear_classifier_output_shapes,
                                    _convert_label_only_linear, options={"nocl": [True, False],
                                                                         "zipmap": [False]})


def _convert_label_only_linear(scope: Any, operator: Any, container: Any) -> None:
    """``decision_function`` = X @ coef.T + intercept in float64; the label as scikit-learn picks it
    (binary: the second class where the score is positive; else the highest score)."""
    from exporters.onnx_transformers import _Graph

    g = _Graph(scope, container)
    model = operator.raw_operator
    classes = np.asarray(model.classes_)
    scores = g.node("Add", [g.node("MatMul", [g.matrix(operator), g.const(np.asarray(model.coef_, np.float64).T)]),
                            g.const(np.asarray(model.intercept_, np.float64).reshape(1, -1))])
    if len(classes) == 2:
        index = g.node("Cast", [g.node("Greater", [scores, g.const(0.0)])], to=7)  # int64
        index = g.node("Reshape", [index, g.const([-1], np.int64)])
        g.node("Concat", [g.node("Neg", [scores]), scores], operator.outputs[1].full_name, axis=1)
    else:
        index = g.node("ArgMax", [scores], axis=1, keepdims=0)
        g.node("Identity", [scores], operator.outputs[1].full_name)
    labels = g.const(classes, np.int64) if classes.dtype.kind in "iub" else \
        g.const(classes.astype(str), object)
    g.node("Gather", [labels, index], operator.outputs[0].full_name, axis=0)


def _register_isotonic_interpolation() -> None:
    """skl2onnx calibrates ``CalibratedClassifierCV(method='isotonic')`` with the *nearest* threshold's
    value; scikit-learn interpolates linearly between thresholds. Its helper is replaced by
    :func:`_isotonic_interpolation` (same arguments, same ``[N, 1]`` result)."""
    from skl2onnx.operator_converters import calibrated_classifier_cv

    calibrated_classifier_cv._transform_isotonic = _isotonic_interpolation


def _isotonic_interpolation(scope: Any, container: Any, model: Any, T: str, k: int, dtype: Any,
                            proto_type: Any) -> str:
    """``IsotonicRegression.predict``: clip to the fitted range, then interpolate linearly between the
    unique ascending thresholds (segment j = #{X <= x} - 1, kept inside [0, m - 2])."""
    from exporters.onnx_transformers import _Graph

    g = _Graph(scope, container)
    calibrator = model.calibrators[k]
    xs = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
    ys = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
    x = g.node("Reshape", [g.node("Cast", [T], to=11), g.const([-1, 1], np.int64)])
    if calibrator.out_of_bounds == "clip":
        x = g.node("Clip", [x, g.const(xs[0]), g.const(xs[-1])])
    if len(xs) == 1:
        y = g.node("Add", [g.node("Mul", [x, g.const(0.0)]), g.const(ys[0])])
    else:
        below = g.node("Cast", [g.node("LessOrEqual", [g.const(xs.reshape(1, -1)), x])], to=7)
        count = g.node("ReduceSum", [below, g.const([1], np.int64)], keepdims=0)
        j = g.node("Clip", [g.node("Sub", [count, g.const(1, np.int64)]), g.const(0, np.int64),
                            g.const(len(xs) - 2, np.int64)])
        x0, y0 = g.node("Gather", [g.const(xs), j]), g.node("Gather", [g.const(ys), j])
        slope = g.node("Gather", [g.const(np.diff(ys) / np.diff(xs)), j])
        x = g.node("Reshape", [x, g.const([-1], np.int64)])
        y = g.node("Add", [y0, g.node("Mul", [g.node("Sub", [x, x0]), slope])])
    out = g.node("Reshape", [y, g.const([-1, 1], np.int64)])
    return out if proto_type == 11 else g.node("Cast", [out], to=proto_type)
