"""Wine cultivar: a multiclass LogisticRegression after imputation, scaling and PCA.

Uses scikit-learn's bundled wine data (no download), with 3% of values removed deterministically
so the imputer matters.
"""

from __future__ import annotations

import numpy as np

TARGET = "cultivar"


def train():
    """Fitted pipeline and a sample of raw inputs."""
    from sklearn.datasets import load_wine
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_wine(as_frame=True)
    frame = data.data.rename(columns=lambda c: c.replace("/", "_"))
    rng = np.random.default_rng(3)
    frame = frame.mask(rng.random(frame.shape) < 0.03)
    target = data.target.map(dict(enumerate(data.target_names))).rename("cultivar")
    pipeline = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("pca", PCA(n_components=8, random_state=0)),
        ("classifier", LogisticRegression(max_iter=2000)),
    ]).fit(frame, target)
    return pipeline, frame
