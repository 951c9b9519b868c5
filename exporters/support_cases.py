"""The coverage cases of the support matrix: every estimator, transformer and pipeline shape scorebridge
exports, each as a small fitted pipeline on deterministic synthetic data with missing values.

Each :class:`Coverage` case names what it covers and which artifacts must ship for it (``ships``):
``tests/exporters/test_coverage.py`` exports the cases marked ``test=True`` (one or more per family) and
checks each shipped artifact on the clean, missing and unseen verification rows;
``benchmarks/support_matrix.py`` exports all of them (and the compositions of
:mod:`exporters.support_matrix`) into ``docs/support-matrix.md``.

Data (:func:`frame`): ``x1``-``x3`` numeric (NaN in ``x1`` and ``x2``), ``c1``/``c2`` strings (NaN in
``c1``); the target is binary, 3-class, real, a count, positive or in (0, 1) as the estimator needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exporters.support_matrix import CATEGORICAL, NUMERIC, TARGET, make_data

N_TREES = 10
BOTH = ("pmml", "onnx")


@dataclass(frozen=True)
class Coverage:
    """One coverage case.

    ``inputs``: ``frame`` (numeric and string columns, a ColumnTransformer in front), ``numeric``
    (the numeric columns, with NaN), ``numeric_clean`` (no NaN), ``category`` (strings as pandas
    ``category`` columns), ``odd_names`` (column names with spaces, dots, parentheses and non-ASCII
    letters), ``numpy`` (a NumPy array). ``target``: ``binary``, ``multiclass``, ``labels`` (string
    classes), ``real``, ``count``, ``positive``, ``unit`` or ``none`` (outlier detectors).
    """

    id: str
    group: str
    estimator: str
    steps: str
    build: Callable[[], Any]
    inputs: str = "frame"
    target: str = "binary"
    ships: tuple[str, ...] = BOTH
    test: bool = False

    @property
    def task(self) -> str:
        if self.target == "none":
            return "anomaly"
        return "classification" if self.target in ("binary", "multiclass", "labels") else "regression"


def frame(inputs: str, target: str, seed: int = 11) -> tuple[Any, Any]:
    """``(X, y)`` for a case's ``inputs`` and ``target`` (see :class:`Coverage`)."""
    task = "classification" if target in ("binary", "multiclass", "labels") else "regression"
    X, y = make_data(task, 3 if target == "multiclass" else 2, seed=seed)
    if target == "labels":
        y = pd.Series(np.where(y == 1, "yes", "no"), name=TARGET)
    elif target == "count":
        y = pd.Series(np.floor(np.maximum(0.0, (y - 60.0) / 10.0)), name=TARGET)
    elif target == "positive":
        y = pd.Series(np.maximum(1.0, y - 50.0), name=TARGET)
    elif target == "unit":
        y = pd.Series(1.0 / (1.0 + np.exp(-(y - 100.0) / 10.0)), name=TARGET)
    if inputs in ("numeric", "numpy"):
        X = X[NUMERIC]
    elif inputs == "numeric_clean":
        X = X[NUMERIC].fillna({"x1": 50.0, "x2": 2.0})
    elif inputs == "category":
        X = X.astype({c: "category" for c in CATEGORICAL})
    elif inputs == "odd_names":
        X = X.rename(columns=ODD_NAMES)
    if inputs == "numpy":
        X = X.to_numpy()
    return X, (None if target == "none" else y)


ODD_NAMES = {"x1": "annual income", "x2": "rate (%)", "x3": "n.loans", "c1": "Größe", "c2": "région-code"}


def train(case: Coverage) -> tuple[Any, Any]:
    """The fitted pipeline of ``case`` and its raw training inputs (the export sample)."""
    X, y = frame(case.inputs, case.target)
    model = case.build()
    return (model.fit(X) if y is None else model.fit(X, y)), X


# -- building blocks ---------------------------------------------------------------------------------

def _sk(module: str, name: str, **kw: Any) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)(**kw)


def _pipe(*steps: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([(f"step{i}" if i < len(steps) - 1 else "model", s) for i, s in enumerate(steps)])


def _imputer(strategy: str = "median", **kw: Any) -> Any:
    return _sk("sklearn.impute", "SimpleImputer", strategy=strategy, **kw)


def _onehot(**kw: Any) -> Any:
    kw.setdefault("handle_unknown", "ignore")
    return _sk("sklearn.preprocessing", "OneHotEncoder", sparse_output=False, **kw)


def _scaler() -> Any:
    return _sk("sklearn.preprocessing", "StandardScaler")


def _columns(numeric: Any = None, categorical: Any = None, **kw: Any) -> Any:
    """ColumnTransformer: ``numeric`` (default: median imputer + StandardScaler) on x1-x3 and
    ``categorical`` (default: constant imputer + one-hot) on c1, c2."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    if numeric is None:
        numeric = make_pipeline(_imputer(), _scaler())
    if categorical is None:
        categorical = make_pipeline(_imputer("constant", fill_value="missing"), _onehot())
    return ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)], **kw)


def _framed(estimator: Callable[[], Any], **kw: Any) -> Callable[[], Any]:
    """The standard shape: ColumnTransformer (imputers, scaler, one-hot) + estimator."""
    return lambda: _pipe(_columns(**kw), estimator())


def _numeric(*steps: Callable[[], Any]) -> Callable[[], Any]:
    """Numeric columns only: median imputer, ``steps``, estimator (a plain Pipeline, no ColumnTransformer)."""
    return lambda: _pipe(_imputer(), *(s() for s in steps))


def _logreg() -> Any:
    return _sk("sklearn.linear_model", "LogisticRegression", max_iter=1000)


def _xgb(cls: str = "XGBClassifier", **kw: Any) -> Any:
    kw = {"n_estimators": N_TREES, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1, "tree_method": "hist",
          "random_state": 0, **kw}
    return _sk("xgboost", cls, **kw)


def _lgbm(cls: str = "LGBMClassifier", **kw: Any) -> Any:
    kw = {"n_estimators": N_TREES, "num_leaves": 7, "min_child_samples": 5, "verbose": -1, "n_jobs": 1,
          "random_state": 0, **kw}
    return _sk("lightgbm", cls, **kw)


def _tree(cls: str, module: str = "sklearn.tree", **kw: Any) -> Callable[[], Any]:
    return lambda: _sk(module, cls, random_state=0, **kw)


def _ensemble(cls: str, **kw: Any) -> Callable[[], Any]:
    return lambda: _sk("sklearn.ensemble", cls, **kw)


STD = "SimpleImputer+StandardScaler | SimpleImputer(constant)+OneHotEncoder"
RAW = "none: the model reads the raw columns (NaN routed by the model)"


def _linear() -> list[Coverage]:
    lm, svm = "sklearn.linear_model", "sklearn.svm"
    out = [
        Coverage("linear-regression", "linear", "LinearRegression", STD, _framed(lambda: _sk(lm, "LinearRegression")),
                 target="real", test=True),
        Coverage("ridge", "linear", "Ridge", STD, _framed(lambda: _sk(lm, "Ridge")), target="real"),
        Coverage("ridge-cv", "linear", "RidgeCV", STD, _framed(lambda: _sk(lm, "RidgeCV")), target="real"),
        Coverage("lasso", "linear", "Lasso", STD, _framed(lambda: _sk(lm, "Lasso", alpha=0.1)), target="real"),
        Coverage("elastic-net", "linear", "ElasticNet", STD, _framed(lambda: _sk(lm, "ElasticNet", alpha=0.1)),
                 target="real"),
        Coverage("logistic-regression", "linear", "LogisticRegression", STD, _framed(_logreg), test=True),
        Coverage("logistic-regression-multiclass", "linear", "LogisticRegression (3 classes)", STD, _framed(_logreg),
                 target="multiclass"),
        Coverage("logistic-regression-cv", "linear", "LogisticRegressionCV", STD,
                 _framed(lambda: _sk(lm, "LogisticRegressionCV", max_iter=1000))),
        Coverage("sgd-classifier-log", "linear", "SGDClassifier(loss='log_loss')", STD,
                 _framed(lambda: _sk(lm, "SGDClassifier", loss="log_loss", random_state=0))),
        Coverage("sgd-classifier-hinge", "linear", "SGDClassifier (hinge: labels only)", STD,
                 _framed(lambda: _sk(lm, "SGDClassifier", random_state=0))),
        Coverage("sgd-regressor", "linear", "SGDRegressor", STD,
                 _framed(lambda: _sk(lm, "SGDRegressor", random_state=0)), target="real"),
        Coverage("linear-svc", "linear", "LinearSVC (labels only)", STD, _framed(lambda: _sk(svm, "LinearSVC")),
                 test=True),
        Coverage("linear-svr", "linear", "LinearSVR", STD, _framed(lambda: _sk(svm, "LinearSVR", random_state=0)),
                 target="real"),
        Coverage("huber", "linear", "HuberRegressor", STD, _framed(lambda: _sk(lm, "HuberRegressor", max_iter=500)),
                 target="real"),
        Coverage("poisson", "linear", "PoissonRegressor", STD, _framed(lambda: _sk(lm, "PoissonRegressor")),
                 target="count", test=True),
        Coverage("gamma", "linear", "GammaRegressor", STD, _framed(lambda: _sk(lm, "GammaRegressor")),
                 target="positive"),
        Coverage("tweedie", "linear", "TweedieRegressor(power=1.5)", STD,
                 _framed(lambda: _sk(lm, "TweedieRegressor", power=1.5)), target="positive"),
        Coverage("ridge-classifier", "linear", "RidgeClassifier (labels only)", STD,
                 _framed(lambda: _sk(lm, "RidgeClassifier"))),
        Coverage("linear-regression-plain", "linear", "LinearRegression",
                 "SimpleImputer+StandardScaler (plain Pipeline)",
                 _numeric(_scaler, lambda: _sk(lm, "LinearRegression")), inputs="numeric", target="real", test=True),
        Coverage("logistic-regression-plain", "linear", "LogisticRegression",
                 "SimpleImputer+StandardScaler (plain Pipeline)", _numeric(_scaler, _logreg), inputs="numeric"),
    ]
    return out


def _trees() -> list[Coverage]:
    en, lm = "sklearn.ensemble", "sklearn.linear_model"
    small = {"n_estimators": N_TREES, "max_depth": 4, "random_state": 0}
    tree_cls = "sklearn.tree"
    return [
        Coverage("decision-tree-raw", "trees", "DecisionTreeClassifier", RAW,
                 lambda: _pipe(_sk(tree_cls, "DecisionTreeClassifier", max_depth=5, random_state=0)), inputs="numeric",
                 test=True),
        Coverage("decision-tree-regressor-raw", "trees", "DecisionTreeRegressor", RAW,
                 lambda: _sk(tree_cls, "DecisionTreeRegressor", max_depth=5, random_state=0), inputs="numeric",
                 target="real"),
        Coverage("decision-tree", "trees", "DecisionTreeClassifier (3 classes)", STD,
                 _framed(_tree("DecisionTreeClassifier", max_depth=5)), target="multiclass"),
        Coverage("extra-tree", "trees", "ExtraTreeRegressor", STD, _framed(_tree("ExtraTreeRegressor", max_depth=6)),
                 target="real"),
        Coverage("extra-trees", "trees", "ExtraTreesClassifier", STD,
                 _framed(lambda: _sk(en, "ExtraTreesClassifier", **small)), test=True),
        Coverage("extra-trees-regressor", "trees", "ExtraTreesRegressor", STD,
                 _framed(lambda: _sk(en, "ExtraTreesRegressor", **small)), target="real"),
        Coverage("random-forest-raw", "trees", "RandomForestClassifier", RAW,
                 lambda: _pipe(_sk(en, "RandomForestClassifier", **small)), inputs="numeric"),
        Coverage("random-forest-regressor-raw", "trees", "RandomForestRegressor", RAW,
                 lambda: _sk(en, "RandomForestRegressor", **small), inputs="numeric", target="real",
                 test=True),
        Coverage("gradient-boosting-multiclass-missing-category", "trees", "GradientBoostingClassifier (3 classes)",
                 "SimpleImputer+StandardScaler | SimpleImputer(constant 'missing', a category learned in training)"
                 "+OneHotEncoder", _framed(lambda: _sk(en, "GradientBoostingClassifier", **small)),
                 target="multiclass", test=True),
        Coverage("gradient-boosting-regressor", "trees", "GradientBoostingRegressor", STD,
                 _framed(lambda: _sk(en, "GradientBoostingRegressor", **small)), target="real"),
        Coverage("hist-gradient-boosting-raw", "trees", "HistGradientBoostingClassifier", RAW,
                 lambda: _pipe(_sk(en, "HistGradientBoostingClassifier", max_iter=N_TREES, random_state=0)),
                 inputs="numeric", ships=("onnx",), test=True),
        Coverage("hist-gradient-boosting-regressor-raw", "trees", "HistGradientBoostingRegressor", RAW,
                 lambda: _sk(en, "HistGradientBoostingRegressor", max_iter=N_TREES, random_state=0), inputs="numeric",
                 target="real", ships=("onnx",)),
        Coverage("hist-gradient-boosting-categorical", "trees", "HistGradientBoostingClassifier(categorical_features)",
                 "none: c1/c2 as strings with NaN (the model encodes them itself), x1-x3 with NaN",
                 lambda: _sk(en, "HistGradientBoostingClassifier", max_iter=N_TREES, random_state=0,
                             categorical_features=CATEGORICAL), ships=("onnx",), test=True),
        Coverage("hist-gradient-boosting-ordinal-categorical", "trees",
                 "HistGradientBoostingRegressor(categorical_features)",
                 "OrdinalEncoder(unknown and missing: NaN) on c1/c2 | passthrough x1-x3",
                 lambda: _pipe(_sk("sklearn.compose", "ColumnTransformer", transformers=[
                     ("cat", _sk("sklearn.preprocessing", "OrdinalEncoder", handle_unknown="use_encoded_value",
                                 unknown_value=np.nan), CATEGORICAL), ("num", "passthrough", NUMERIC)]),
                     _sk(en, "HistGradientBoostingRegressor", max_iter=N_TREES, random_state=0,
                         categorical_features=[0, 1])), target="real", ships=("onnx",)),
        Coverage("adaboost-regressor", "trees", "AdaBoostRegressor", STD,
                 _framed(lambda: _sk(en, "AdaBoostRegressor", n_estimators=N_TREES, random_state=0)), target="real"),
        Coverage("adaboost-classifier", "trees", "AdaBoostClassifier", STD,
                 _framed(lambda: _sk(en, "AdaBoostClassifier", n_estimators=N_TREES, random_state=0))),
        Coverage("bagging-classifier", "trees", "BaggingClassifier", STD,
                 _framed(lambda: _sk(en, "BaggingClassifier", n_estimators=5, random_state=0)), test=True),
        Coverage("bagging-regressor", "trees", "BaggingRegressor", STD,
                 _framed(lambda: _sk(en, "BaggingRegressor", n_estimators=5, random_state=0)), target="real"),
        Coverage("voting-classifier-soft", "trees", "VotingClassifier(soft: LogisticRegression, DecisionTree)", STD,
                 _framed(lambda: _sk(en, "VotingClassifier", voting="soft", estimators=[
                     ("lr", _logreg()), ("dt", _sk(tree_cls, "DecisionTreeClassifier", max_depth=3, random_state=0))])),
                 test=True),
        Coverage("voting-classifier-hard", "trees", "VotingClassifier(hard: labels only)", STD,
                 _framed(lambda: _sk(en, "VotingClassifier", voting="hard", estimators=[
                     ("lr", _logreg()), ("dt", _sk(tree_cls, "DecisionTreeClassifier", max_depth=3, random_state=0)),
                     ("nb", _sk("sklearn.naive_bayes", "GaussianNB"))]))),
        Coverage("voting-regressor", "trees", "VotingRegressor(LinearRegression, DecisionTree)", STD,
                 _framed(lambda: _sk(en, "VotingRegressor", estimators=[
                     ("lr", _sk(lm, "LinearRegression")),
                     ("dt", _sk(tree_cls, "DecisionTreeRegressor", max_depth=3, random_state=0))])), target="real"),
        Coverage("stacking-classifier", "trees", "StackingClassifier(LogisticRegression, DecisionTree)", STD,
                 _framed(lambda: _sk(en, "StackingClassifier", estimators=[
                     ("lr", _logreg()),
                     ("dt", _sk(tree_cls, "DecisionTreeClassifier", max_depth=3, random_state=0))]))),
        Coverage("stacking-regressor", "trees", "StackingRegressor(Ridge, DecisionTree)", STD,
                 _framed(lambda: _sk(en, "StackingRegressor", estimators=[
                     ("ridge", _sk(lm, "Ridge")),
                     ("dt", _sk(tree_cls, "DecisionTreeRegressor", max_depth=3, random_state=0))])), target="real"),
        Coverage("isolation-forest", "trees", "IsolationForest (anomaly score)", "SimpleImputer",
                 _numeric(lambda: _sk(en, "IsolationForest", n_estimators=20, random_state=0)), inputs="numeric",
                 target="none", test=True),
        Coverage("isolation-forest-raw", "trees", "IsolationForest (anomaly score)", RAW,
                 lambda: _sk(en, "IsolationForest", n_estimators=20, random_state=0), inputs="numeric", target="none",
                 ships=("onnx",)),
        Coverage("xgboost-raw", "xgboost", "XGBClassifier", RAW, lambda: _pipe(_xgb()), inputs="numeric", test=True),
        Coverage("xgboost-bare", "xgboost", "XGBRegressor (bare estimator)", RAW, lambda: _xgb("XGBRegressor"),
                 inputs="numeric", target="real"),
        Coverage("xgboost-multiclass-raw", "xgboost", "XGBClassifier (3 classes)", RAW, lambda: _xgb(),
                 inputs="numeric", target="multiclass"),
        Coverage("xgboost-categorical", "xgboost", "XGBClassifier(enable_categorical)", "none: pandas category columns",
                 lambda: _xgb(enable_categorical=True), inputs="category", test=True),
        *(Coverage(f"xgboost-{name}", "xgboost", f"XGBRegressor(objective='{objective}')", RAW,
                   lambda objective=objective: _xgb("XGBRegressor", objective=objective), inputs="numeric",
                   target=target, test=name == "logistic")
          for name, objective, target in (("logistic", "reg:logistic", "unit"), ("poisson", "count:poisson", "count"),
                                          ("tweedie", "reg:tweedie", "positive"), ("gamma", "reg:gamma", "positive"),
                                          ("absolute-error", "reg:absoluteerror", "real"))),
        Coverage("xgboost-dart", "xgboost", "XGBClassifier(booster='dart')", RAW, lambda: _xgb(booster="dart"),
                 inputs="numeric", ships=("pmml", "xgboost"), test=True),
        Coverage("lightgbm-raw", "lightgbm", "LGBMClassifier", RAW, lambda: _pipe(_lgbm()), inputs="numeric",
                 test=True),
        Coverage("lightgbm-regressor", "lightgbm", "LGBMRegressor", STD, _framed(lambda: _lgbm("LGBMRegressor")),
                 target="real"),
        Coverage("lightgbm-categorical", "lightgbm", "LGBMClassifier (categorical_feature)",
                 "none: pandas category columns", lambda: _lgbm(), inputs="category", test=True),
        *(Coverage(f"lightgbm-{objective}", "lightgbm", f"LGBMRegressor(objective='{objective}')", RAW,
                   lambda objective=objective: _lgbm("LGBMRegressor", objective=objective), inputs="numeric",
                   target=target) for objective, target in (("poisson", "count"), ("tweedie", "positive"),
                                                            ("gamma", "positive"))),
        # numeric fidelity (i16d): LightGBM's missing_type routing, a missing category the encoder learned
        Coverage("lightgbm-zero-as-missing", "lightgbm", "LGBMRegressor(zero_as_missing=True)", RAW,
                 lambda: _lgbm("LGBMRegressor", zero_as_missing=True), inputs="numeric", target="real",
                 ships=("pmml",)),
        Coverage("xgboost-onehot-learned-missing", "xgboost", "XGBRegressor",
                 "ColumnTransformer(one-hot c1/c2 (NaN in c1 learned as a category), remainder='passthrough')",
                 lambda: _pipe(_sk("sklearn.compose", "ColumnTransformer", transformers=[
                     ("cat", _onehot(), CATEGORICAL)], remainder="passthrough"), _xgb("XGBRegressor")),
                 target="real", ships=("pmml", "onnx", "xgboost")),
    ]


def _others() -> list[Coverage]:
    svm, lm = "sklearn.svm", "sklearn.linear_model"
    ms = "sklearn.model_selection"
    return [
        Coverage("knn-classifier", "others", "KNeighborsClassifier", STD,
                 _framed(lambda: _sk("sklearn.neighbors", "KNeighborsClassifier")), ships=("onnx",), test=True),
        Coverage("knn-regressor", "others", "KNeighborsRegressor", STD,
                 _framed(lambda: _sk("sklearn.neighbors", "KNeighborsRegressor")), target="real"),
        Coverage("gaussian-nb", "others", "GaussianNB", STD, _framed(lambda: _sk("sklearn.naive_bayes", "GaussianNB"))),
        Coverage("mlp-classifier", "others", "MLPClassifier", STD, _framed(lambda: _sk(
            "sklearn.neural_network", "MLPClassifier", hidden_layer_sizes=(8,), max_iter=300, random_state=0)),
            test=True),
        Coverage("mlp-regressor", "others", "MLPRegressor", STD, _framed(lambda: _sk(
            "sklearn.neural_network", "MLPRegressor", hidden_layer_sizes=(8,), max_iter=300, random_state=0)),
            target="real"),
        Coverage("svc", "others", "SVC (labels only)", STD, _framed(lambda: _sk(svm, "SVC")), test=True),
        Coverage("svc-probability", "others", "SVC(probability=True)", STD,
                 _framed(lambda: _sk(svm, "SVC", probability=True, random_state=0)), ships=("onnx",)),
        Coverage("svr", "others", "SVR", STD, _framed(lambda: _sk(svm, "SVR")), target="real"),
        Coverage("nu-svc", "others", "NuSVC (3 classes, labels only)", STD, _framed(lambda: _sk(svm, "NuSVC")),
                 target="multiclass", ships=("onnx",)),
        Coverage("nu-svr", "others", "NuSVR", STD, _framed(lambda: _sk(svm, "NuSVR")), target="real"),
        Coverage("calibrated-sigmoid", "others", "CalibratedClassifierCV(LogisticRegression, sigmoid)", STD,
                 _framed(lambda: _sk("sklearn.calibration", "CalibratedClassifierCV", estimator=_logreg(), cv=3)),
                 test=True, ships=("onnx",)),
        Coverage("calibrated-isotonic", "others", "CalibratedClassifierCV(LinearSVC, isotonic)", STD,
                 _framed(lambda: _sk("sklearn.calibration", "CalibratedClassifierCV", estimator=_sk(svm, "LinearSVC"),
                                     method="isotonic", cv=3)), ships=("onnx",)),
        Coverage("transformed-target", "others", "TransformedTargetRegressor(LinearRegression, log/exp)", STD,
                 _framed(lambda: _sk("sklearn.compose", "TransformedTargetRegressor",
                                     regressor=_sk(lm, "LinearRegression"), func=np.log, inverse_func=np.exp)),
                 target="positive", test=True),
        Coverage("transformed-target-scaler", "others", "TransformedTargetRegressor(Ridge, StandardScaler)", STD,
                 _framed(lambda: _sk("sklearn.compose", "TransformedTargetRegressor", regressor=_sk(lm, "Ridge"),
                                     transformer=_scaler())), target="real", ships=("onnx",)),
        Coverage("grid-search", "others", "GridSearchCV(Pipeline(..., LogisticRegression))", STD,
                 lambda: _sk(ms, "GridSearchCV", estimator=_pipe(_columns(), _logreg()),
                             param_grid={"model__C": [0.1, 1.0]}, cv=3), test=True),
        Coverage("randomized-search", "others", "RandomizedSearchCV(RandomForestRegressor)", STD,
                 _framed(lambda: _sk(ms, "RandomizedSearchCV", estimator=_sk(
                     "sklearn.ensemble", "RandomForestRegressor", n_estimators=5, random_state=0),
                     param_distributions={"max_depth": [2, 3, 4]}, n_iter=2, cv=3, random_state=0)), target="real"),
    ]


def _transformers() -> list[Coverage]:
    pp, dec, fs, imp = "sklearn.preprocessing", "sklearn.decomposition", "sklearn.feature_selection", "sklearn.impute"

    def num(label: str, *steps: Callable[[], Any], impute: bool = True, **kw: Any) -> Coverage:
        def build() -> Any:
            chain = [_imputer()] if impute else []
            return _pipe(*chain, *(s() for s in steps), _logreg())
        return Coverage(label, "transformers", "LogisticRegression", "", build, inputs="numeric", **kw)

    def cat(label: str, *steps: Callable[[], Any], **kw: Any) -> Coverage:
        from sklearn.pipeline import make_pipeline

        return Coverage(label, "transformers", "LogisticRegression", "",
                        lambda: _pipe(_columns(categorical=make_pipeline(*(s() for s in steps))), _logreg()), **kw)

    const = lambda: _imputer("constant", fill_value="missing")  # noqa: E731
    cases = [
        num("SimpleImputer(mean)", lambda: _imputer("mean"), impute=False, test=True),
        num("SimpleImputer(median)", lambda: _imputer("median"), impute=False),
        num("SimpleImputer(most_frequent)", lambda: _imputer("most_frequent"), impute=False),
        num("SimpleImputer(constant, fill_value=0)", lambda: _imputer("constant", fill_value=0), impute=False),
        num("SimpleImputer(add_indicator=True)", lambda: _imputer("mean", add_indicator=True), impute=False,
            ships=("onnx",), test=True),
        num("FeatureUnion(SimpleImputer, MissingIndicator)", lambda: _sk("sklearn.pipeline", "FeatureUnion",
            transformer_list=[("impute", _imputer()), ("indicator", _sk(imp, "MissingIndicator"))]), impute=False,
            ships=("onnx",)),
        num("StandardScaler", _scaler),
        num("MinMaxScaler", lambda: _sk(pp, "MinMaxScaler")),
        num("RobustScaler", lambda: _sk(pp, "RobustScaler")),
        num("MaxAbsScaler", lambda: _sk(pp, "MaxAbsScaler")),
        num("Normalizer", lambda: _sk(pp, "Normalizer")),
        num("Binarizer(threshold=1)", lambda: _sk(pp, "Binarizer", threshold=1.0), test=True),
        num("KBinsDiscretizer(ordinal)", lambda: _sk(pp, "KBinsDiscretizer", n_bins=4, encode="ordinal",
                                                     quantile_method="averaged_inverted_cdf"), test=True),
        num("KBinsDiscretizer(onehot-dense)", lambda: _sk(pp, "KBinsDiscretizer", n_bins=4, encode="onehot-dense",
                                                          quantile_method="averaged_inverted_cdf")),
        num("PolynomialFeatures(2)", lambda: _sk(pp, "PolynomialFeatures", degree=2), test=True),
        num("PowerTransformer(yeo-johnson)", lambda: _sk(pp, "PowerTransformer")),
        num("PowerTransformer(box-cox)", _scaler, lambda: _sk(pp, "FunctionTransformer", func=np.exp),
            lambda: _sk(pp, "PowerTransformer", method="box-cox")),
        num("FunctionTransformer(np.log1p)", lambda: _sk(pp, "FunctionTransformer", func=np.abs),
            lambda: _sk(pp, "FunctionTransformer", func=np.log1p), test=True),
        num("FunctionTransformer(np.sqrt)", lambda: _sk(pp, "FunctionTransformer", func=np.abs),
            lambda: _sk(pp, "FunctionTransformer", func=np.sqrt)),
        num("QuantileTransformer", lambda: _sk(pp, "QuantileTransformer", n_quantiles=50), ships=("onnx",)),
        num("PCA(2)", _scaler, lambda: _sk(dec, "PCA", n_components=2, random_state=0)),
        num("IncrementalPCA(2)", _scaler, lambda: _sk(dec, "IncrementalPCA", n_components=2)),
        num("TruncatedSVD(2)", lambda: _sk(dec, "TruncatedSVD", n_components=2, random_state=0)),
        num("SelectKBest(k=2)", lambda: _sk(fs, "SelectKBest", k=2)),
        num("SelectPercentile(50)", lambda: _sk(fs, "SelectPercentile", percentile=50)),
        num("VarianceThreshold", lambda: _sk(fs, "VarianceThreshold", threshold=0.5)),
        num("SelectFromModel(LogisticRegression)", _scaler, lambda: _sk(fs, "SelectFromModel", estimator=_logreg())),
        num("FeatureUnion(PCA, SelectKBest)", _scaler, lambda: _sk("sklearn.pipeline", "FeatureUnion",
            transformer_list=[("pca", _sk(dec, "PCA", n_components=1)), ("best", _sk(fs, "SelectKBest", k=1))])),
        cat("OneHotEncoder(drop='first')", const, lambda: _onehot(drop="first"), test=True),
        cat("OneHotEncoder(drop='if_binary')", const, lambda: _onehot(drop="if_binary")),
        cat("OneHotEncoder(min_frequency, infrequent_if_exist)", const,
            lambda: _onehot(handle_unknown="infrequent_if_exist", min_frequency=40), ships=("onnx",), test=True),
        cat("OneHotEncoder(max_categories=2, ignore)", const, lambda: _onehot(max_categories=2), ships=("onnx",)),
        cat("OneHotEncoder learned NaN as a category", _onehot, test=True),
        cat("OrdinalEncoder(encoded_missing_value=-2, unknown_value=-1)",
            lambda: _sk(pp, "OrdinalEncoder", handle_unknown="use_encoded_value", unknown_value=-1,
                        encoded_missing_value=-2), test=True),
        cat("OrdinalEncoder(unknown_value=-1)", const,
            lambda: _sk(pp, "OrdinalEncoder", handle_unknown="use_encoded_value", unknown_value=-1)),
        cat("TargetEncoder", const, lambda: _sk(pp, "TargetEncoder", random_state=0), test=True),
        cat("TargetEncoder (no imputer)", lambda: _sk(pp, "TargetEncoder", random_state=0)),
    ]
    for c in cases:
        object.__setattr__(c, "steps", c.id)
        object.__setattr__(c, "id", "transformer-" + "".join(ch if ch.isalnum() else "-" for ch in c.id.lower())
                           .strip("-").replace("--", "-"))
    return cases


def _compositions() -> list[Coverage]:
    """ColumnTransformer options and FeatureUnion over the frame."""
    from sklearn.compose import make_column_selector

    en = "sklearn.ensemble"
    return [
        Coverage("column-transformer-remainder-passthrough", "compositions", "RandomForestClassifier",
                 "ColumnTransformer(one-hot c1/c2, remainder='passthrough': x1-x3 with NaN)",
                 lambda: _pipe(_sk("sklearn.compose", "ColumnTransformer", transformers=[
                     ("cat", _onehot(), CATEGORICAL)], remainder="passthrough"),
                     _sk(en, "RandomForestClassifier", n_estimators=N_TREES, max_depth=4, random_state=0)),
                 ships=("onnx",), test=True),
        Coverage("column-transformer-remainder-drop", "compositions", "LogisticRegression",
                 "ColumnTransformer(imputed x1, x2; remainder='drop')",
                 lambda: _pipe(_sk("sklearn.compose", "ColumnTransformer", transformers=[
                     ("num", _imputer(), ["x1", "x2"])], remainder="drop"), _logreg())),
        Coverage("column-transformer-selector", "compositions", "LogisticRegression",
                 "ColumnTransformer(make_column_selector(dtype_include='number' / object))",
                 lambda: _pipe(_sk("sklearn.compose", "ColumnTransformer", transformers=[
                     ("num", _imputer(), make_column_selector(dtype_include="number")),
                     ("cat", _onehot(), make_column_selector(dtype_include=object))]), _logreg()), test=True),
    ]


def _shapes() -> list[Coverage]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    odd_num = [ODD_NAMES[c] for c in NUMERIC]
    odd_cat = [ODD_NAMES[c] for c in CATEGORICAL]
    return [
        Coverage("bare-estimator", "shapes", "LogisticRegression (bare estimator)", "none (no NaN in the sample)",
                 _logreg, inputs="numeric_clean", test=True),
        Coverage("bare-tree", "shapes", "DecisionTreeRegressor (bare estimator)", RAW,
                 lambda: _sk("sklearn.tree", "DecisionTreeRegressor", max_depth=4, random_state=0), inputs="numeric",
                 target="real"),
        Coverage("odd-names", "shapes", "LogisticRegression", "ColumnTransformer on columns named 'annual income', "
                 "'rate (%)', 'n.loans', 'Größe', 'région-code'",
                 lambda: _pipe(ColumnTransformer([
                     ("num", make_pipeline(_imputer(), _scaler()), odd_num),
                     ("cat", make_pipeline(_imputer("constant", fill_value="missing"), _onehot()), odd_cat)]),
                     _logreg()), inputs="odd_names", test=True),
        Coverage("odd-names-raw", "shapes", "XGBClassifier", "none: raw columns with odd names",
                 lambda: _pipe(ColumnTransformer([("num", "passthrough", odd_num)]), _xgb()),
                 inputs="odd_names", test=True),
        Coverage("numpy", "shapes", "LogisticRegression", "SimpleImputer+StandardScaler, fitted on a NumPy array "
                 "(inputs x0, x1, x2)", _numeric(_scaler, _logreg), inputs="numpy", test=True),
        Coverage("numpy-column-transformer", "shapes", "GradientBoostingRegressor",
                 "ColumnTransformer with integer column selectors, fitted on a NumPy array",
                 lambda: _pipe(ColumnTransformer([("a", _imputer(), [0, 1]), ("b", "passthrough", [2])]),
                               _sk("sklearn.ensemble", "GradientBoostingRegressor", n_estimators=N_TREES, max_depth=3,
                                   random_state=0)), inputs="numpy", target="real"),
        Coverage("string-labels", "shapes", "LogisticRegression (classes 'no', 'yes')", STD, _framed(_logreg),
                 target="labels"),
        Coverage("string-labels-label-only", "shapes", "LinearSVC (classes 'no', 'yes', labels only)", STD,
                 _framed(lambda: _sk("sklearn.svm", "LinearSVC")), target="labels"),
    ]


def coverage_cases() -> list[Coverage]:
    """Every coverage case, grouped (linear, trees, xgboost, lightgbm, others, transformers,
    compositions, shapes)."""
    return _linear() + _trees() + _others() + _transformers() + _compositions() + _shapes()
