"""The support matrix: small, reproducible pipelines covering every supported step and estimator.

Each :class:`Case` composes one preprocessing recipe with ``ColumnTransformer`` or sklearn-pandas
``DataFrameMapper``, wraps it in a ``Pipeline`` or ``PMMLPipeline`` and fits one estimator on
deterministic synthetic data with missing values. ``tests/exporters`` exports every case and asserts
fidelity; ``benchmarks/support_matrix.py`` measures them into ``docs/support-matrix.md``.

Every estimator appears with both compositions, and the recipes rotate so that every step appears
with both compositions and both wrappers, without the full cartesian product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = ["x1", "x2", "x3"]
CATEGORICAL = ["c1", "c2"]
TARGET = "y"
N_TREES = 20

# estimator key -> (task, number of classes or 0)
ESTIMATORS = {
    "LogisticRegression": ("classification", 2),
    "LinearRegression": ("regression", 0),
    "DecisionTreeClassifier": ("classification", 3),
    "DecisionTreeRegressor": ("regression", 0),
    "RandomForestClassifier": ("classification", 2),
    "RandomForestRegressor": ("regression", 0),
    "GradientBoostingClassifier": ("classification", 2),
    "GradientBoostingRegressor": ("regression", 0),
    "XGBClassifier(binary)": ("classification", 2),
    "XGBClassifier(multiclass)": ("classification", 3),
    "XGBRegressor": ("regression", 0),
    "LGBMClassifier": ("classification", 2),
    "LGBMRegressor": ("regression", 0),
}
# Recipes: how numeric and categorical columns are prepared. "raw" passes numbers through with
# their NaNs (only for XGBoost/LightGBM, which route missing values themselves).
RECIPES = ("impute_standard_onehot", "impute_minmax_ordinal", "impute_pca_onehot_unseen", "raw_onehot")
_MISSING_ROUTING = ("XGB", "LGBM")


@dataclass(frozen=True)
class Case:
    """One support-matrix combination."""

    estimator: str
    composition: str  # ColumnTransformer | DataFrameMapper
    wrapper: str  # Pipeline | PMMLPipeline
    recipe: str

    @property
    def id(self) -> str:
        return f"{self.estimator}-{self.composition}-{self.wrapper}-{self.recipe}"

    @property
    def task(self) -> str:
        return ESTIMATORS[self.estimator][0]

    @property
    def steps(self) -> str:
        """The preprocessing steps, human-readable."""
        return {
            "impute_standard_onehot": "SimpleImputer(median)+StandardScaler | SimpleImputer(constant)+OneHotEncoder",
            "impute_minmax_ordinal": "SimpleImputer(mean)+MinMaxScaler | SimpleImputer(most_frequent)+"
                                     "OrdinalEncoder, OrdinalEncoder(unknown=-1)",
            "impute_pca_onehot_unseen": "SimpleImputer(mean)+StandardScaler+PCA(2) | SimpleImputer(most_frequent)+"
                                        "OneHotEncoder, OneHotEncoder(ignore)",
            "raw_onehot": "passthrough (NaN routed by the model) | SimpleImputer(constant)+OneHotEncoder, "
                          "OneHotEncoder(ignore)",
        }[self.recipe]


def cases() -> list[Case]:
    """Every estimator with both compositions; recipes and wrappers rotate across the list."""
    out = []
    for i, name in enumerate(ESTIMATORS):
        routes_missing = name.startswith(_MISSING_ROUTING)
        recipes = RECIPES if routes_missing else RECIPES[:3]
        for j, composition in enumerate(("ColumnTransformer", "DataFrameMapper")):
            recipe = recipes[(i + j) % len(recipes)]
            wrapper = ("Pipeline", "PMMLPipeline")[(i + j) % 2]
            out.append(Case(name, composition, wrapper, recipe))
    return out


def make_data(task: str, n_classes: int = 2, n: int = 300, seed: int = 11) -> tuple[pd.DataFrame, pd.Series]:
    """Raw inputs with NaN in numeric and categorical columns, and a target for ``task``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(50, 10, n).round(2),
        "x2": rng.exponential(2.0, n).round(3),
        "x3": rng.integers(0, 20, n).astype("int64"),
        "c1": pd.Series(rng.choice(["red", "green", "blue", "amber"], n), dtype=object),
        "c2": pd.Series(rng.choice(["low", "mid", "high"], n, p=[0.5, 0.3, 0.2]), dtype=object),
    })
    score = (0.08 * (frame.x1 - 50) + 0.6 * frame.x2 - 0.1 * frame.x3 + 1.2 * (frame.c1 == "red")
             - 0.8 * (frame.c2 == "high") + rng.normal(0, 0.7, n))
    frame.loc[rng.random(n) < 0.08, "x1"] = np.nan
    frame.loc[rng.random(n) < 0.05, "x2"] = np.nan
    frame.loc[rng.random(n) < 0.08, "c1"] = np.nan
    if task == "regression":
        target = 10 * score + 100
    elif n_classes == 2:
        target = (score > score.median()).astype("int64")
    else:
        target = pd.Series(np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])), dtype="int64")
    return frame, pd.Series(np.asarray(target), name=TARGET)


def _preprocessing(recipe: str) -> tuple[Any, Any, Any]:
    """(numeric transformers or None for passthrough, c1 transformers, c2 transformers)."""
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    def onehot() -> Any:
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)

    def ordinal() -> Any:
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)

    if recipe == "impute_standard_onehot":
        return [SimpleImputer(strategy="median"), StandardScaler()], \
            [SimpleImputer(strategy="constant", fill_value="missing"), onehot()], \
            [SimpleImputer(strategy="constant", fill_value="missing"), onehot()]
    if recipe == "impute_minmax_ordinal":
        return [SimpleImputer(strategy="mean"), MinMaxScaler()], \
            [SimpleImputer(strategy="most_frequent"), ordinal()], [ordinal()]
    # c2 has no missing values in training: a bare one-hot encodes a missing c2 like an unseen one
    if recipe == "impute_pca_onehot_unseen":
        return [SimpleImputer(strategy="mean"), StandardScaler(), PCA(n_components=2, random_state=0)], \
            [SimpleImputer(strategy="most_frequent"), onehot()], [onehot()]
    if recipe == "raw_onehot":
        return None, [SimpleImputer(strategy="constant", fill_value="missing"), onehot()], [onehot()]
    raise ValueError(f"unknown recipe {recipe!r}")


def _estimator(name: str) -> Any:
    kw: dict[str, Any] = {"random_state": 0}
    if name == "LogisticRegression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if name == "LinearRegression":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    if name.startswith("DecisionTree"):
        from sklearn import tree

        return getattr(tree, name)(max_depth=5, **kw)
    if name.startswith(("RandomForest", "GradientBoosting")):
        from sklearn import ensemble

        return getattr(ensemble, name)(n_estimators=N_TREES, max_depth=4, **kw)
    if name.startswith("XGB"):
        import xgboost

        cls = xgboost.XGBRegressor if name == "XGBRegressor" else xgboost.XGBClassifier
        return cls(n_estimators=N_TREES, max_depth=4, learning_rate=0.3, n_jobs=1, tree_method="hist", **kw)
    if name.startswith("LGBM"):
        import lightgbm

        return getattr(lightgbm, name)(n_estimators=N_TREES, num_leaves=15, min_child_samples=5, verbose=-1,
                                       n_jobs=1, **kw)
    raise ValueError(f"unknown estimator {name!r}")


def _chain(transformers: list | None) -> Any:
    """A transformer list as one ColumnTransformer-ready step (passthrough for None)."""
    from sklearn.pipeline import make_pipeline

    if transformers is None:
        return "passthrough"
    return transformers[0] if len(transformers) == 1 else make_pipeline(*transformers)


def build(case: Case) -> Any:
    """The unfitted pipeline for ``case``."""
    numeric, c1, c2 = _preprocessing(case.recipe)
    if case.composition == "ColumnTransformer":
        from sklearn.compose import ColumnTransformer

        pre = ColumnTransformer([("num", _chain(numeric), NUMERIC), ("c1", _chain(c1), ["c1"]),
                                 ("c2", _chain(c2), ["c2"])])
    else:
        from scorebridge.compat import install_sklearn_pandas_shim

        install_sklearn_pandas_shim()
        from sklearn_pandas import DataFrameMapper

        pre = DataFrameMapper([(NUMERIC, numeric), (["c1"], c1), (["c2"], c2)])
    steps = [("preprocess", pre), ("model", _estimator(case.estimator))]
    if case.wrapper == "PMMLPipeline":
        from sklearn2pmml.pipeline import PMMLPipeline

        return PMMLPipeline(steps)
    from sklearn.pipeline import Pipeline

    return Pipeline(steps)


def train(case: Case) -> tuple[Any, pd.DataFrame]:
    """The fitted pipeline for ``case`` and its raw training inputs (the export sample)."""
    task, n_classes = ESTIMATORS[case.estimator]
    frame, target = make_data(task, n_classes)
    return build(case).fit(frame, target), frame


# -- measuring a bundle per kind of row ------------------------------------------------------------------

ROW_GROUPS = ("clean", "missing", "unseen")


def agreement_by_kind(bundle: Any, engine: str) -> dict[str, dict[str, float]]:
    """``{group: {"max_diff", "labels"}}`` of one engine against the native outputs stored in the
    bundle's verification set, for the clean sample rows, the rows with a missing value and the
    rows with an unseen category. ``max_diff`` is absolute on probabilities, relative to
    ``max(1, |y|)`` for other outputs; ``labels`` is the label agreement (classification only)."""
    from exporters.fidelity import prediction_from_native_columns, row_kinds
    from scorebridge.engines import load_engine

    verify = bundle.read_verification()
    native = prediction_from_native_columns(verify, bundle.task, bundle.classes)
    got = load_engine(bundle, engine).predict(verify)
    kinds = np.asarray([k.split(" ")[0] for k in row_kinds(len(verify), bundle.schema)])
    kinds = np.where(kinds == "sample", "clean", kinds)
    if bundle.is_classifier:
        diff = np.abs(got.probabilities - native.probabilities).max(axis=1)
        equal = np.asarray([str(a) == str(b) for a, b in zip(got.labels, native.labels)])
    else:
        diff = np.abs(got.values - native.values) / np.maximum(1.0, np.abs(native.values))
        equal = None
    out = {}
    for group in ROW_GROUPS:
        rows = kinds == group
        if rows.any():
            worst = diff[rows]
            out[group] = {"max_diff": float(np.inf if np.isnan(worst).any() else worst.max())}
            if equal is not None:
                out[group]["labels"] = float(equal[rows].mean())
    return out
