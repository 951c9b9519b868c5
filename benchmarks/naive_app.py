"""The baseline for ``serve_bench.py``: the Flask app a tutorial would write around the joblib pipeline.

Run as ``NAIVE_BUNDLE=<bundle dir> gunicorn -w 2 benchmarks.naive_app:app`` (sync workers, default
thread settings): it is what practitioners deploy before they measure.
"""

from __future__ import annotations

import os

import joblib
import pandas as pd
from flask import Flask, jsonify, request

from scorebridge.compat import install_sklearn_pandas_shim

install_sklearn_pandas_shim()
pipeline = joblib.load(os.path.join(os.environ["NAIVE_BUNDLE"], "model.joblib"))
app = Flask(__name__)


@app.post("/predict")
def predict():
    frame = pd.DataFrame(request.get_json()["records"])
    proba = pipeline.predict_proba(frame)
    labels = pipeline.classes_[proba.argmax(axis=1)] if hasattr(pipeline, "classes_") else proba.argmax(axis=1)
    return jsonify({"predictions": [{"label": int(lab), "probabilities": {str(i): float(p) for i, p in enumerate(row)}}
                                    for lab, row in zip(labels, proba, strict=True)]})
