"""Credit risk: a binary XGBoost (200 trees, depth 6) behind a ColumnTransformer, with missing values.

Deterministic synthetic applicants: numeric inputs with ~5% missing (XGBoost routes them), a
categorical input imputed to "missing" and one-hot encoded, and one one-hot encoded with
``handle_unknown="ignore"`` and no imputer (a missing value there scores like an unseen category).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "default"

N_ROWS = 4000
REGIONS = ["north", "south", "east", "west", "central"]
EMPLOYMENT = ["salaried", "self_employed", "unemployed", "retired"]


def make_data(n: int = N_ROWS, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Applicants and whether they defaulted."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.lognormal(10.5, 0.6, n).round(2),
        "debt_ratio": rng.beta(2, 5, n).round(4),
        "age": rng.integers(18, 80, n).astype("int64"),
        "credit_lines": rng.poisson(4, n).astype("float64"),
        "late_payments": rng.poisson(0.6, n).astype("float64"),
        "region": pd.Series(rng.choice(REGIONS, n), dtype=object),
        "employment": pd.Series(rng.choice(EMPLOYMENT, n, p=[0.6, 0.2, 0.1, 0.1]), dtype=object),
    })
    logit = (3.0 * frame.debt_ratio - 0.9 * (np.log(frame.income) - 10.5) + 0.5 * frame.late_payments
             - 0.02 * (frame.age - 45) + 0.4 * (frame.employment == "unemployed") + 0.3 * (frame.region == "south")
             - 1.6 + rng.normal(0, 0.6, n))
    target = pd.Series((logit > 0).astype("int64"), name="default")
    for col, rate in (("income", 0.05), ("debt_ratio", 0.05), ("credit_lines", 0.03)):
        frame.loc[rng.random(n) < rate, col] = np.nan
    frame.loc[rng.random(n) < 0.05, "employment"] = np.nan
    return frame, target


def build_pipeline(n_estimators: int = 200):
    """The unfitted pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from xgboost import XGBClassifier

    pre = ColumnTransformer([
        ("num", "passthrough", ["income", "debt_ratio", "age", "credit_lines", "late_payments"]),
        ("employment", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                 ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
         ["employment"]),
        ("region", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region"]),
    ])
    model = XGBClassifier(n_estimators=n_estimators, max_depth=6, learning_rate=0.05, subsample=0.9,
                          random_state=0, n_jobs=1, tree_method="hist")
    return Pipeline([("preprocess", pre), ("classifier", model)])


def train(n_estimators: int = 200):
    """Fitted pipeline and a sample of raw inputs."""
    frame, target = make_data()
    pipeline = build_pipeline(n_estimators).fit(frame, target)
    return pipeline, frame
