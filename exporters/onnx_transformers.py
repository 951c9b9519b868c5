"""ONNX converters for scikit-learn transformers that skl2onnx lacks or converts imprecisely.

Every converter here computes in float64, as scikit-learn does, and is proved on the verification
rows by the fidelity gate like any other:

- ``SimpleImputer`` on numbers as ``Where(IsNaN(x), statistics, x)`` (ONNX Runtime's ``Imputer`` has
  no double kernel), with ``add_indicator``; ``MissingIndicator``;
- ``OneHotEncoder``, ``OrdinalEncoder`` and ``TargetEncoder`` as one table lookup per column, the
  table read off the fitted encoder itself (every category, an unseen one and a missing one), so
  ``drop``, infrequent categories, a category learned from missing values, ``encoded_missing_value``,
  ``unknown_value`` and target encodings come out exactly as scikit-learn computes them;
- ``Binarizer`` (skl2onnx maps ``x == threshold`` to 1), ``KBinsDiscretizer`` and
  ``PolynomialFeatures`` (skl2onnx mixes float32 into float64 graphs), ``PowerTransformer``,
  ``FunctionTransformer`` with a NumPy ufunc (skl2onnx converts only the identity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scorebridge.errors import ConversionError

MISSING_STRING = ""  # what the ONNX engine feeds for a missing string (see exporters/onnx.py)


class _Graph:
    """Small helper around skl2onnx's scope and container: constants and nodes by name."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope, self.container = scope, container

    def const(self, values: Any, dtype: Any = np.float64) -> str:
        from onnx import numpy_helper

        array = np.asarray(values, dtype=dtype)
        name = self.scope.get_unique_variable_name("const")
        tensor = numpy_helper.from_array(array, name)
        self.container.add_initializer(name, tensor.data_type, list(array.shape), array.ravel().tolist())
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, domain: str = "", **attrs: Any) -> str:
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, inputs, [output], name=self.scope.get_unique_operator_name(op),
                                op_domain=domain, **attrs)
        return output

    def columns(self, operator: Any) -> list[str]:
        """The operator's input columns, one ``[N, 1]`` tensor each, in order."""
        out = []
        for var in operator.inputs:
            width = var.type.shape[1] if len(var.type.shape) > 1 else 1
            if width is None:
                width = len(operator.inputs) == 1 and getattr(operator.raw_operator, "n_features_in_", None)
                if not width:
                    raise ConversionError(f"unknown width of input {var.onnx_name!r}", converter="scorebridge")
            if width == 1:
                out.append(var.full_name)
            else:
                out += [self.node("Gather", [var.full_name, self.const([k], np.int64)], axis=1) for k in range(width)]
        return out

    def matrix(self, operator: Any) -> str:
        """The operator's numeric inputs as one float64 ``[N, C]`` tensor."""
        names = []
        for var in operator.inputs:
            name = var.full_name
            if type(var.type).__name__ != "DoubleTensorType":
                name = self.node("Cast", [name], to=11)  # TensorProto.DOUBLE
            names.append(name)
        return names[0] if len(names) == 1 else self.node("Concat", names, axis=1)


def _width(operator: Any) -> int | None:
    total = 0
    for var in operator.inputs:
        width = var.type.shape[1] if len(var.type.shape) > 1 else 1
        if width is None:
            return None
        total += width
    return total


def _shape(width_of: Any) -> Any:
    """A shape calculator: one float64 output ``[N, width_of(model, input width)]``."""
    def calculate(operator: Any) -> None:
        from skl2onnx.common.data_types import DoubleTensorType

        n = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = DoubleTensorType([n, width_of(operator.raw_operator, _width(operator))])

    return calculate


# -- missing values ----------------------------------------------------------------------------------

def _statistics(model: Any) -> np.ndarray:
    return np.asarray(model.statistics_, dtype=np.float64)  # object dtype when fill_value is an int


def _imputer_width(model: Any, width: int | None) -> int:
    kept = len(model.statistics_) if model.keep_empty_features else int(np.sum(~np.isnan(_statistics(model))))
    indicator = len(model.indicator_.features_) if getattr(model, "indicator_", None) is not None else 0
    return kept + indicator


def convert_simple_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Numbers: ``Where(IsNaN(x), statistics, x)`` plus the indicator columns of ``add_indicator``."""
    g = _Graph(scope, container)
    model = operator.raw_operator
    x = g.matrix(operator)
    stats = _statistics(model)
    filled = g.node("Where", [g.node("IsNaN", [x]), g.const(stats), x])
    if not model.keep_empty_features and np.isnan(stats).any():  # scikit-learn drops all-missing columns
        filled = g.node("Gather", [filled, g.const(np.flatnonzero(~np.isnan(stats)), np.int64)], axis=1)
    parts = [filled]
    if getattr(model, "indicator_", None) is not None:
        parts.append(_indicator(g, x, model.indicator_.features_))
    g.node("Concat", parts, operator.outputs[0].full_name, axis=1) if len(parts) > 1 else \
        g.node("Identity", parts, operator.outputs[0].full_name)


def _indicator(g: _Graph, x: str, features: Any) -> str:
    picked = g.node("Gather", [x, g.const(np.asarray(features), np.int64)], axis=1)
    return g.node("Cast", [g.node("IsNaN", [picked])], to=11)


def convert_missing_indicator(scope: Any, operator: Any, container: Any) -> None:
    g = _Graph(scope, container)
    out = _indicator(g, g.matrix(operator), operator.raw_operator.features_)
    g.node("Identity", [out], operator.outputs[0].full_name)


# -- categorical encoders ----------------------------------------------------------------------------

def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def encoder_tables(encoder: Any) -> list[tuple[list, np.ndarray]]:
    """Per input column: (its known categories, a table of ``len(categories) + 2`` rows).

    Row ``k`` is what ``encoder.transform`` outputs for category ``k``, the next row what it outputs
    for a category it never saw, the last what it outputs for a missing value (NaN). The rows are
    read off the fitted encoder by transforming one crafted row per category, so every option it
    has (drop, infrequent grouping, unknown and missing encodings, target statistics) is honoured.
    ``NaN`` rows stand for inputs the encoder refuses (``handle_unknown='error'``).
    """
    import pandas as pd

    categories = [[c for c in cats if not _is_missing(c)] for cats in encoder.categories_]
    base = [cats[0] if cats else np.nan for cats in categories]
    names = getattr(encoder, "feature_names_in_", None)
    widths = _encoder_widths(encoder, base, names)
    tables = []
    offset = 0
    for j, cats in enumerate(categories):
        numeric = all(isinstance(c, (int, float, np.number)) and not isinstance(c, bool) for c in cats)
        unseen = (max((float(c) for c in cats), default=0.0) + 1000.0) if numeric and cats else "__scorebridge_unseen__"
        rows = []
        for value in [*cats, unseen, np.nan]:
            row = list(base)
            row[j] = value
            frame = pd.DataFrame([row], columns=list(names) if names is not None else None, dtype=object)
            if numeric:
                frame = frame.astype({frame.columns[j]: float})
            try:
                out = encoder.transform(frame)
                out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
                rows.append(np.asarray(out[0, offset:offset + widths[j]], dtype=np.float64))
            except ValueError:  # the encoder refuses this input (unknown category with handle_unknown='error')
                rows.append(np.full(widths[j], np.nan))
        tables.append((cats, np.vstack(rows)))
        offset += widths[j]
    return tables


def _encoder_widths(encoder: Any, base: list, names: Any) -> list[int]:
    n = len(encoder.categories_)
    outs = getattr(encoder, "_n_features_outs", None)
    if outs is not None:
        return [int(w) for w in outs]
    total = len(encoder.get_feature_names_out())
    return [total // n] * n


def _encoders_width(model: Any, width: int | None) -> int:
    return int(sum(table.shape[1] for _, table in encoder_tables(model)))


def convert_encoder(scope: Any, operator: Any, container: Any) -> None:
    """One lookup per column: the category's row of :func:`encoder_tables` (Gather by index)."""
    g = _Graph(scope, container)
    parts = []
    columns = g.columns(operator)
    tables = encoder_tables(operator.raw_operator)
    if len(columns) != len(tables):
        raise ConversionError(f"{type(operator.raw_operator).__name__} expects {len(tables)} columns, the graph "
                              f"gives it {len(columns)}", converter="scorebridge")
    for kind, column, (cats, table) in zip(_column_types(operator), columns, tables):
        parts.append(_lookup(g, kind, column, cats, table))
    g.node("Concat", parts, operator.outputs[0].full_name, axis=1) if len(parts) > 1 else \
        g.node("Identity", parts, operator.outputs[0].full_name)


def _lookup(g: _Graph, kind: str, column: str, cats: list, table: np.ndarray) -> str:
    """The row of ``table`` (see :func:`encoder_tables`) for each value of one ``[N, 1]`` column."""
    unknown, missing = len(cats), len(cats) + 1
    if kind == "string":
        index = g.node("LabelEncoder", [column], domain="ai.onnx.ml",
                       keys_strings=[str(c) for c in cats] + [MISSING_STRING],
                       values_int64s=list(range(len(cats))) + [missing], default_int64=unknown)
    else:
        x = column if kind == "double" else g.node("Cast", [column], to=11)
        equal = g.node("Equal", [x, g.const(np.asarray(cats, dtype=np.float64).reshape(1, -1))])
        hit = g.node("Cast", [equal], to=6)  # int32 for ArgMax/ReduceMax
        # per row (axis 1): without axes ReduceMax reduces the whole batch, and an unseen value in a batch
        # where another row matched would take category 0's row
        found = g.node("ReduceMax", [hit, g.const([1], np.int64)], keepdims=1)
        index = g.node("Where", [g.node("Cast", [found], to=9), g.node("ArgMax", [hit], axis=1, keepdims=1),
                                 g.const([[unknown]], np.int64)])
        index = g.node("Where", [g.node("IsNaN", [x]), g.const([[missing]], np.int64), index])
    flat = g.node("Reshape", [index, g.const([-1], np.int64)])
    return g.node("Gather", [g.const(table), flat], axis=0)


def _transformer_base() -> tuple[type, ...]:
    from sklearn.base import BaseEstimator, TransformerMixin

    return TransformerMixin, BaseEstimator


class HGBCategories(*_transformer_base()):
    """HistGradientBoosting's internal encoder (``_preprocessor``) as a pipeline step: its categorical
    columns ordinal-encoded (unknown and missing: NaN), first, then its numeric columns."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator
        pre = estimator._preprocessor if estimator is not None else None
        self.encoder = next(t for _, t, _ in pre.transformers_ if hasattr(t, "categories_")) if pre else None
        self.categorical = np.asarray(getattr(estimator, "is_categorical_", []), dtype=bool)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def convert_hgb_categories(scope: Any, operator: Any, container: Any) -> None:
    g = _Graph(scope, container)
    model = operator.raw_operator
    columns, kinds = g.columns(operator), _column_types(operator)
    tables = iter(encoder_tables(model.encoder))
    encoded = [_lookup(g, kinds[j], columns[j], *next(tables)) for j in np.flatnonzero(model.categorical)]
    numeric = [columns[j] if kinds[j] == "double" else g.node("Cast", [columns[j]], to=11)
               for j in np.flatnonzero(~model.categorical)]
    g.node("Concat", encoded + numeric, operator.outputs[0].full_name, axis=1)


def _column_types(operator: Any) -> list[str]:
    out = []
    for var in operator.inputs:
        width = var.type.shape[1] if len(var.type.shape) > 1 else 1
        kind = {"StringTensorType": "string", "DoubleTensorType": "double"}.get(type(var.type).__name__, "other")
        out += [kind] * (width or getattr(operator.raw_operator, "n_features_in_", 1))
    return out


# -- numeric transformers ----------------------------------------------------------------------------

def convert_binarizer(scope: Any, operator: Any, container: Any) -> None:
    """``x > threshold`` (strictly, as scikit-learn) as 1.0, else 0.0."""
    g = _Graph(scope, container)
    above = g.node("Greater", [g.matrix(operator), g.const(float(operator.raw_operator.threshold))])
    g.node("Cast", [above], operator.outputs[0].full_name, to=11)


def _kbins_width(model: Any, width: int | None) -> int:
    return len(model.n_bins_) if model.encode == "ordinal" else int(np.sum(model.n_bins_))


def convert_kbins(scope: Any, operator: Any, container: Any) -> None:
    """Bin ``j`` = the number of inner edges <= x (``searchsorted(edges[1:-1], x, side='right')``),
    then one-hot for ``encode='onehot*'``."""
    g = _Graph(scope, container)
    model = operator.raw_operator
    x = g.matrix(operator)
    parts = []
    for j, edges in enumerate(model.bin_edges_):
        column = g.node("Gather", [x, g.const([j], np.int64)], axis=1)
        inner = np.asarray(edges[1:-1], dtype=np.float64).reshape(1, -1)
        if inner.size:
            passed = g.node("Cast", [g.node("GreaterOrEqual", [column, g.const(inner)])], to=11)
            bins = g.node("ReduceSum", [passed, g.const([1], np.int64)], keepdims=1)
        else:
            bins = g.node("Mul", [column, g.const(0.0)])
        if model.encode == "ordinal":
            parts.append(bins)
        else:
            onehot = g.node("Equal", [bins, g.const(np.arange(model.n_bins_[j], dtype=np.float64).reshape(1, -1))])
            parts.append(g.node("Cast", [onehot], to=11))
    g.node("Concat", parts, operator.outputs[0].full_name, axis=1) if len(parts) > 1 else \
        g.node("Identity", parts, operator.outputs[0].full_name)


def convert_polynomial(scope: Any, operator: Any, container: Any) -> None:
    """Output ``k`` = prod_j x_j ** powers_[k, j]."""
    g = _Graph(scope, container)
    powers = np.asarray(operator.raw_operator.powers_, dtype=np.float64)
    x = g.node("Unsqueeze", [g.matrix(operator), g.const([1], np.int64)])  # [N, 1, F]
    terms = g.node("Pow", [x, g.const(powers[np.newaxis, :, :])])  # [N, K, F]
    g.node("ReduceProd", [terms, g.const([2], np.int64)], operator.outputs[0].full_name, keepdims=0)


def convert_power_transformer(scope: Any, operator: Any, container: Any) -> None:
    """Yeo-Johnson or Box-Cox per column (SciPy's formulas), then the fitted standardisation."""
    g = _Graph(scope, container)
    model = operator.raw_operator
    x = g.matrix(operator)
    eps = np.finfo(np.float64).eps
    parts = []
    for j, lmbda in enumerate(model.lambdas_):
        column = g.node("Gather", [x, g.const([j], np.int64)], axis=1)
        if model.method == "box-cox":
            log = g.node("Log", [column])
            parts.append(log if abs(lmbda) < eps else _expm1_over(g, log, lmbda))
            continue
        one = g.const(1.0)
        pos_log = g.node("Log", [g.node("Add", [column, one])])  # log1p(x)
        neg_log = g.node("Log", [g.node("Sub", [one, column])])  # log1p(-x)
        pos = pos_log if abs(lmbda) < eps else _expm1_over(g, pos_log, lmbda)
        neg = g.node("Neg", [neg_log if abs(lmbda - 2) < eps else _expm1_over(g, neg_log, 2 - lmbda)])
        parts.append(g.node("Where", [g.node("GreaterOrEqual", [column, g.const(0.0)]), pos, neg]))
    out = g.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]
    if model.standardize:
        scaler = model._scaler
        out = g.node("Div", [g.node("Sub", [out, g.const(scaler.mean_.reshape(1, -1))]),
                             g.const(scaler.scale_.reshape(1, -1))])
    g.node("Identity", [out], operator.outputs[0].full_name)


def _expm1_over(g: _Graph, log: str, lmbda: float) -> str:
    """``expm1(lmbda * log) / lmbda``."""
    scaled = g.node("Mul", [log, g.const(float(lmbda))])
    return g.node("Div", [g.node("Sub", [g.node("Exp", [scaled]), g.const(1.0)]), g.const(float(lmbda))])


# NumPy ufuncs FunctionTransformer may apply, as ONNX subgraphs of one input
_UFUNCS = {
    "log": lambda g, x: g.node("Log", [x]),
    "log1p": lambda g, x: g.node("Log", [g.node("Add", [x, g.const(1.0)])]),
    "log2": lambda g, x: g.node("Div", [g.node("Log", [x]), g.const(np.log(2.0))]),
    "log10": lambda g, x: g.node("Div", [g.node("Log", [x]), g.const(np.log(10.0))]),
    "exp": lambda g, x: g.node("Exp", [x]),
    "expm1": lambda g, x: g.node("Sub", [g.node("Exp", [x]), g.const(1.0)]),
    "sqrt": lambda g, x: g.node("Sqrt", [x]),
    "square": lambda g, x: g.node("Mul", [x, x]),
    "abs": lambda g, x: g.node("Abs", [x]),
    "absolute": lambda g, x: g.node("Abs", [x]),
    "negative": lambda g, x: g.node("Neg", [x]),
    "reciprocal": lambda g, x: g.node("Reciprocal", [x]),
    "sign": lambda g, x: g.node("Sign", [x]),
    "floor": lambda g, x: g.node("Floor", [x]),
    "ceil": lambda g, x: g.node("Ceil", [x]),
    "rint": lambda g, x: g.node("Round", [x]),
    "tanh": lambda g, x: g.node("Tanh", [x]),
    "sinh": lambda g, x: g.node("Sinh", [x]),
    "cosh": lambda g, x: g.node("Cosh", [x]),
    "sin": lambda g, x: g.node("Sin", [x]),
    "cos": lambda g, x: g.node("Cos", [x]),
    "arctan": lambda g, x: g.node("Atan", [x]),
    "arcsinh": lambda g, x: g.node("Asinh", [x]),
}


def ufunc_name(func: Any) -> str | None:
    """The name of a NumPy ufunc this module converts (``np.log1p`` -> ``"log1p"``), else None."""
    if isinstance(func, np.ufunc) and func.__name__ in _UFUNCS:
        return func.__name__
    return None


def _function_width(model: Any, width: int | None) -> int | None:
    return width


def convert_function_transformer(scope: Any, operator: Any, container: Any) -> None:
    """``FunctionTransformer(func)`` for the NumPy ufuncs in :data:`_UFUNCS`."""
    g = _Graph(scope, container)
    model = operator.raw_operator
    x = g.matrix(operator)
    name = ufunc_name(model.func)
    if name is None or model.kw_args:
        raise ConversionError(f"FunctionTransformer(func={getattr(model.func, '__name__', model.func)!r}) has no "
                              f"ONNX conversion: use one of the NumPy ufuncs {', '.join(sorted(_UFUNCS))}",
                              converter="scorebridge")
    g.node("Identity", [_UFUNCS[name](g, x)], operator.outputs[0].full_name)


def register() -> None:
    """Register the converters above with skl2onnx (replacing its own for these classes)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.preprocessing import (
        Binarizer,
        FunctionTransformer,
        KBinsDiscretizer,
        OneHotEncoder,
        OrdinalEncoder,
        PolynomialFeatures,
        PowerTransformer,
        TargetEncoder,
    )

    string_imputer = get_converter("SklearnSimpleImputer")
    numeric_imputer_shape = _shape(_imputer_width)

    def imputer(scope: Any, operator: Any, container: Any) -> None:
        if isinstance(operator.inputs[0].type, StringTensorType):
            string_imputer(scope, operator, container)
        else:
            convert_simple_imputer(scope, operator, container)

    def imputer_shape(operator: Any) -> None:
        if isinstance(operator.inputs[0].type, StringTensorType):
            calculate_sklearn_imputer_output_shapes(operator)
        else:
            numeric_imputer_shape(operator)

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer", imputer_shape, imputer)
    update_registered_converter(MissingIndicator, "ScorebridgeMissingIndicator",
                                _shape(lambda m, w: len(m.features_)), convert_missing_indicator)
    for encoder in (OneHotEncoder, OrdinalEncoder, TargetEncoder):
        update_registered_converter(encoder, f"Scorebridge{encoder.__name__}", _shape(_encoders_width), convert_encoder)
    update_registered_converter(HGBCategories, "ScorebridgeHGBCategories",
                                _shape(lambda m, w: len(m.categorical)), convert_hgb_categories)
    update_registered_converter(Binarizer, "SklearnBinarizer", _shape(lambda m, w: w), convert_binarizer)
    update_registered_converter(KBinsDiscretizer, "ScorebridgeKBinsDiscretizer", _shape(_kbins_width), convert_kbins)
    update_registered_converter(PolynomialFeatures, "ScorebridgePolynomialFeatures",
                                _shape(lambda m, w: m.n_output_features_), convert_polynomial)
    update_registered_converter(PowerTransformer, "ScorebridgePowerTransformer", _shape(lambda m, w: w),
                                convert_power_transformer)
    identity = get_converter("SklearnFunctionTransformer")
    identity_shape = get_shape_calculator("SklearnFunctionTransformer")
    ufunc_shape = _shape(_function_width)

    def function(scope: Any, operator: Any, container: Any) -> None:
        if operator.raw_operator.func is None:  # a ColumnTransformer's passthrough, of any type
            identity(scope, operator, container)
        else:
            convert_function_transformer(scope, operator, container)

    def function_shape(operator: Any) -> None:
        (identity_shape if operator.raw_operator.func is None else ufunc_shape)(operator)

    update_registered_converter(FunctionTransformer, "SklearnFunctionTransformer", function_shape, function)
