"""Native engine: the pickled pipeline itself. Unpickling runs code, so it needs explicit trust."""

from __future__ import annotations

from typing import Any

import numpy as np

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.errors import EngineError, UntrustedPickleError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns


def load_pickle(path: Any) -> Any:
    """joblib-load a pipeline (with the sklearn-pandas shim installed); the caller decides trust."""
    try:
        import joblib
    except ImportError as exc:
        raise EngineError("loading a pickled pipeline needs scikit-learn and joblib: "
                          "pip install 'scorebridge[export]'") from exc
    from scorebridge.compat import install_sklearn_pandas_shim

    install_sklearn_pandas_shim()
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises anything the pickled code raises
        raise EngineError(f"{path}: cannot unpickle the pipeline ({type(exc).__name__}: {exc})") from exc


def pandas_categories(pipeline: Any) -> dict[str, list]:
    """``{column: categories}`` for the columns an estimator reading the raw frame takes as pandas
    ``category`` (XGBoost ``enable_categorical``, LightGBM's categorical features), with the
    categories it was trained on, in its order."""
    model = pipeline
    while hasattr(model, "best_estimator_"):  # GridSearchCV / RandomizedSearchCV
        model = model.best_estimator_
    steps = [s for _, s in getattr(model, "steps", [(None, model)]) if s is not None and not isinstance(s, str)]
    estimator = steps[0] if len(steps) == 1 else None
    found: dict[str, list] = {}
    if hasattr(estimator, "get_booster"):  # XGBoost
        booster = estimator.get_booster()
        if "c" in (booster.feature_types or []):
            try:
                arrays = booster.get_categories(export_to_arrow=True).to_arrow() or []
            except (AttributeError, TypeError):  # XGBoost < 3.1 keeps no categories: codes are the user's
                arrays = []
            found = {name: values.to_pylist() for name, values in arrays if values is not None}
    elif hasattr(estimator, "booster_") and getattr(estimator.booster_, "pandas_categorical", None):  # LightGBM
        infos = estimator.booster_.dump_model().get("feature_infos", {})
        names = [n for n in estimator.booster_.feature_name() if infos.get(n, {}).get("values")]
        found = dict(zip(names, (list(c) for c in estimator.booster_.pandas_categorical)))
    return found


def as_native_frame(pipeline: Any, frame: Any) -> Any:
    """``frame`` with the columns the pipeline takes as pandas ``category`` cast to the categories
    it was trained on (an unseen value becomes missing, as in a categorical of those categories); for
    a pipeline fitted on a NumPy array (no column names), the frame's values in column order."""
    model = pipeline
    while hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    if hasattr(frame, "to_numpy") and hasattr(model, "n_features_in_") and not hasattr(model, "feature_names_in_"):
        return frame.to_numpy()
    return with_categories(pipeline, frame)


def with_categories(pipeline: Any, frame: Any) -> Any:
    """``frame`` with the columns the pipeline takes as pandas ``category`` cast to its categories."""
    categories = pandas_categories(pipeline)
    if not categories:
        return frame
    import pandas as pd

    frame = frame.copy()
    for name, cats in categories.items():
        if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            values = frame[name].astype(object).where(frame[name].notna(), None)
            frame[name] = pd.Categorical(values, categories=cats)
    return frame


def native_prediction(pipeline: Any, frame: Any, task: str, classes: list) -> Prediction:
    """Score a DataFrame with the native pipeline: ``predict_proba`` (``predict`` for a classifier
    without probabilities), ``predict`` for a regressor, ``decision_function`` for an anomaly score.
    Columns the pipeline reads as pandas categories are cast first (:func:`as_native_frame`)."""
    frame = as_native_frame(pipeline, frame)
    if task == "classification":
        if not hasattr(pipeline, "predict_proba"):
            return Prediction.classification(classes, None, labels=np.asarray(pipeline.predict(frame)))
        proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        return Prediction.classification(classes, proba)
    if task == "anomaly":
        return Prediction.regression(np.asarray(pipeline.decision_function(frame), dtype=np.float64))
    return Prediction.regression(np.asarray(pipeline.predict(frame), dtype=np.float64))


def limit_threads(pipeline: Any, threads: int) -> None:
    """Set ``n_jobs`` of every step that has one (XGBoost, LightGBM, forests...) to ``threads``."""
    if not hasattr(pipeline, "get_params"):
        return
    keys = [k for k in pipeline.get_params(deep=True) if k == "n_jobs" or k.endswith("__n_jobs")]
    if keys:
        pipeline.set_params(**dict.fromkeys(keys, threads))


class NativeEngine(Engine):
    """Scores ``model.joblib``; refuses unless ``trust_pickles=True`` (``--trust-pickles``).

    ``threads`` (default: as pickled) sets every step's ``n_jobs``, so a worker per core does not
    oversubscribe the machine.
    """

    name = "native"
    artifact = "native"

    def __init__(self, bundle: Bundle, *, trust_pickles: bool = False, threads: int | None = None,
                 **_: Any) -> None:
        super().__init__(bundle)
        if not trust_pickles:
            raise UntrustedPickleError(
                "the native engine unpickles model.joblib, which executes code: pass --trust-pickles "
                "(trust_pickles=True) only for bundles you built, or use --engine onnx|pmml")
        self.pipeline = load_pickle(bundle.artifact_path("native"))
        if threads:
            limit_threads(self.pipeline, threads)

    def predict_columns(self, columns: Columns) -> Prediction:
        return native_prediction(self.pipeline, self.schema.to_frame(columns), self.bundle.task, self.classes)

    def describe(self) -> str:
        import sklearn

        return f"scikit-learn {sklearn.__version__}"
