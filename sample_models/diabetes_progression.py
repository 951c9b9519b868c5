"""Diabetes progression: the practitioners' shape, a PMMLPipeline with a sklearn-pandas
DataFrameMapper in front of an XGBRegressor.

Uses scikit-learn's bundled diabetes data; ``sex`` becomes a categorical string input.
"""

from __future__ import annotations

import numpy as np

TARGET = "progression"


def train():
    """Fitted pipeline and a sample of raw inputs."""
    from scorebridge.compat import install_sklearn_pandas_shim

    install_sklearn_pandas_shim()
    from sklearn.datasets import load_diabetes
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline
    from sklearn_pandas import DataFrameMapper
    from xgboost import XGBRegressor

    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.copy()
    frame["sex"] = frame["sex"].map({1.0: "female", 2.0: "male"}).astype(object)
    rng = np.random.default_rng(5)
    frame.loc[rng.random(len(frame)) < 0.05, "bmi"] = np.nan
    numeric = [c for c in frame.columns if c != "sex"]
    mapper = DataFrameMapper([
        (numeric, [SimpleImputer(strategy="mean"), StandardScaler()]),
        (["sex"], OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    pipeline = PMMLPipeline([
        ("mapper", mapper),
        ("regression", XGBRegressor(n_estimators=150, max_depth=4, learning_rate=0.05, random_state=0, n_jobs=1)),
    ]).fit(frame, data.target.rename("progression"))
    return pipeline, frame
