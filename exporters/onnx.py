"""ONNX export through skl2onnx (+ onnxmltools for XGBoost and LightGBM).

The ONNX model takes one input per raw column (``[None, 1]``): numeric columns as float64, string
columns as strings with missing values fed as ``MISSING_STRING``. The graph's input names are
skl2onnx's (it rewrites names that are not C identifiers); the manifest maps each field to its input.
Preprocessing runs in float64 like scikit-learn does, then the features are cast to float32 in front
of tree models, which is exactly what XGBoost and scikit-learn trees do natively: a float32
preprocessing chain would land values one ulp off XGBoost's split thresholds (which sit *on* data
values) and flip splits. The parsers and converters added to skl2onnx live in
:mod:`exporters.onnx_converters`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from exporters.introspect import PipelineInfo
from exporters.onnx_converters import RawColumns, register_converters
from exporters.onnx_transformers import MISSING_STRING
from scorebridge.errors import ConversionError

TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}


def onnx_ready(pipeline: Any, info: PipelineInfo) -> Any:
    """A copy of the pipeline that skl2onnx can convert, with the same predictions.

    - a PMMLPipeline becomes a plain Pipeline of the same (fitted) steps;
    - string ``SimpleImputer`` steps impute ``MISSING_STRING`` (what the engine feeds for a missing
      string) instead of ``NaN``, which ONNX string tensors cannot hold;
    - tree models get a float32 cast in front of them, as they cast natively (see module docstring);
    - an XGBoost booster fitted on a DataFrame forgets its feature names (onnxmltools wants ``f<i>``);
    - a VotingClassifier has ``flatten_transform=False`` (it shapes ``transform()`` only);
    - a HistGradientBoosting model with categorical features gets its own column encoder in front
      (skl2onnx converts its trees only, which read the encoder's output).
    """
    from skl2onnx.sklapi import CastTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    steps = copy.deepcopy(info.steps)
    for est in _walk(steps):
        if isinstance(est, SimpleImputer) and getattr(est, "_fit_dtype", None) is not None \
                and est._fit_dtype.kind == "O":
            est.missing_values = MISSING_STRING
        if type(est).__name__ == "VotingClassifier":  # only transform() reads it; skl2onnx refuses True
            est.flatten_transform = False
        if hasattr(est, "get_booster"):  # onnxmltools reads features as f0, f1, ...: drop the frame's names
            est.get_booster().feature_names = None
    preprocessor = _hgb_preprocessor(steps[-1][1])
    if preprocessor is not None:
        steps.insert(len(steps) - 1, ("hgb_categories", preprocessor))
    if casts_to_float32(info.estimator):
        steps.insert(len(steps) - 1, ("cast_float32", CastTransformer(dtype=np.float32)))
    return Pipeline(steps) if len(steps) > 1 else steps[0][1]


def _hgb_preprocessor(estimator: Any) -> Any:
    """HistGradientBoosting's internal categorical encoder as a step skl2onnx converts (its own
    converter reads the trees only, which see the encoder's output), or None."""
    from exporters.onnx_transformers import HGBCategories

    if getattr(estimator, "_preprocessor", None) is None:
        return None
    step = HGBCategories(copy.deepcopy(estimator))
    estimator._preprocessor = None
    return step


# Estimators that cast their input to float32 before reading it (scikit-learn's trees do, as
# XGBoost does; LightGBM's and HistGradientBoosting's thresholds are float32 in their ONNX converters)
_FLOAT32_FAMILIES = ("tree", "forest", "gbdt", "hist_gbdt", "xgboost", "lightgbm", "isolation_forest")
# ONNX Runtime's SVMRegressor has a float32 kernel only
_FLOAT32_ESTIMATORS = ("SVR", "NuSVR", "OneClassSVM")


def casts_to_float32(estimator: Any) -> bool:
    """Whether the ONNX graph casts the features to float32 in front of ``estimator``: tree models
    (and ensembles holding one), and the estimators ONNX Runtime only runs in float32."""
    from exporters.introspect import model_family

    family = model_family(estimator)
    if family in _FLOAT32_FAMILIES or type(estimator).__name__ in _FLOAT32_ESTIMATORS:
        return True
    if family == "ensemble":
        members = list(getattr(estimator, "estimators_", None) or [])
        members += [c.estimator for c in getattr(estimator, "calibrated_classifiers_", [])]
        return any(casts_to_float32(m[-1] if hasattr(m, "steps") else m) for m in members if m is not None
                   and not isinstance(m, str))
    return False


def _walk(obj: Any):
    """Every estimator nested in steps, ColumnTransformers, FeatureUnions, DataFrameMappers and lists."""
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
    if hasattr(obj, "transformer_list"):
        yield from _walk([t for _, t in obj.transformer_list])
    if hasattr(obj, "built_features"):
        yield from _walk([f[1] for f in obj.built_features])


def initial_types(info: PipelineInfo) -> list[tuple[str, Any]]:
    """One ``[None, 1]`` input per raw column: float64 numbers, strings."""
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    return [(f.name, DoubleTensorType([None, 1]) if f.is_numeric else StringTensorType([None, 1]))
            for f in info.schema.fields]


def _has_option(model: Any, option: str) -> bool:
    """Whether skl2onnx's converter of ``model`` takes ``option`` (LinearSVC's has no ``zipmap``)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    register_converters()
    alias = sklearn_operator_name_map.get(type(model))
    try:
        allowed = get_converter(alias).get_allowed_options() if alias else None
    except ValueError:  # no converter: the conversion will say so
        return True
    return allowed is None or option in allowed


def _routes_columns(model: Any) -> bool:
    """Whether ``model`` starts with a step that selects raw columns by name (ColumnTransformer,
    DataFrameMapper), which takes the per-column inputs as they are."""
    while hasattr(model, "steps"):
        model = model.steps[0][1]
    return hasattr(model, "transformers_") or hasattr(model, "built_features")


def _to_onnx(model: Any, info: PipelineInfo, path: Path, options: dict | None = None) -> tuple[list[str], list[str]]:
    """Convert a (fitted) model with one input per raw column and write it; returns the graph's
    output names and its input names (in schema order)."""
    register_converters()
    from skl2onnx import to_onnx

    if not _routes_columns(model):
        from scorebridge.engines.native import pandas_categories

        categories = pandas_categories(info.steps[-1][1]) if len(info.steps) == 1 else {}
        codes = {i: categories[f.name] for i, f in enumerate(info.schema.fields) if f.name in categories}
        if all(f.is_numeric or i in codes for i, f in enumerate(info.schema.fields)):
            model = RawColumns(model, codes)
    try:
        onx = to_onnx(model, initial_types=initial_types(info), options=options, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/MissingShapeCalculator
        raise ConversionError(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}", format="onnx",
                              converter=_converter_of(exc)) from exc
    inputs = [i.name for i in onx.graph.input]
    if len(inputs) != len(info.schema.fields):
        raise ConversionError(f"the ONNX graph has {len(inputs)} inputs for {len(info.schema.fields)} columns",
                              format="onnx", converter="skl2onnx")
    path.write_bytes(onx.SerializeToString())
    return [o.name for o in onx.graph.output], inputs


def _converter_of(exc: BaseException) -> str:
    """The library whose code raised ``exc``: onnxmltools (XGBoost, LightGBM), scorebridge's own
    converters, or skl2onnx."""
    import traceback

    files = [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]
    for marker, name in (("onnxmltools", "onnxmltools"), ("exporters/onnx_", "scorebridge")):
        if any(marker in f for f in files[-3:]):
            return name
    return "skl2onnx"


def _input_spec(info: PipelineInfo, names: list[str]) -> dict[str, Any]:
    return {
        "inputs": [{"field": f.name, "name": name, "type": "float64" if f.is_numeric else "string"}
                   for f, name in zip(info.schema.fields, names)],
        "missing_string": MISSING_STRING,
        "opset": TARGET_OPSET,
    }


def convert(pipeline: Any, info: PipelineInfo, path: Path) -> dict[str, Any]:
    """Write ``pipeline`` as ONNX to ``path``; returns the manifest's ``onnx`` section."""
    model = onnx_ready(pipeline, info)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    # a classifier's options are always given: skl2onnx otherwise adds zipmap, which LinearSVC's converter refuses
    options = {id(final): {"zipmap": False} if _has_option(final, "zipmap") else {}} \
        if info.task == "classification" else None
    outputs, names = _to_onnx(model, info, path, options)
    spec = _input_spec(info, names)
    if info.task == "classification":  # a classifier without probabilities: its second output is scores
        # SVC(probability=True) labels by its decision function, not its probabilities: the engine takes
        # the most probable class, as the bundle's label is
        label = None if info.probabilities and type(info.estimator).__name__ in ("SVC", "NuSVC") else outputs[0]
        spec.update(label_output=label, probability_output=outputs[1] if info.probabilities else None,
                    prediction_output=None)
    elif info.task == "anomaly":  # skl2onnx's outlier detectors: label (1/-1), then decision_function
        spec.update(label_output=None, probability_output=None, prediction_output=outputs[1])
    else:
        spec.update(label_output=None, probability_output=None, prediction_output=outputs[0])
    return spec


# XGBoost objectives whose inplace_predict output is what predict_proba / predict return
_FAST_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax", "reg:", "count:poisson")


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

    outputs, names = _to_onnx(Pipeline(model.steps[:-1]), info, preprocess_path)
    booster_path.write_bytes(bytes(booster.save_raw("ubj")))
    return {**_input_spec(info, names), "output": outputs[0], "objective": objective}
