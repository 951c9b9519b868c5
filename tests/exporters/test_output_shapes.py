"""The two output shapes issue 16 adds reach every consumer: a classifier without probabilities (its
probability columns are the label's indicator) and an outlier detector (task ``anomaly``: the
``decision_function`` as ``prediction``). Both are exported, served over HTTP and scored by
``scorebridge predict``, and agree with the native pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from werkzeug.test import Client

from exporters import export_bundle
from exporters.support_cases import coverage_cases, train

ROOT = Path(__file__).resolve().parents[2]
CASES = {c.id: c for c in coverage_cases()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A repository with ``labels`` (LinearSVC) and ``anomaly`` (IsolationForest), and their pipelines."""
    repo = tmp_path_factory.mktemp("shapes")
    fitted = {}
    for name, case in (("labels", "string-labels-label-only"), ("anomaly", "isolation-forest")):
        pipeline, sample = train(CASES[case])
        export_bundle(pipeline, sample, name=name, repo=repo, target="y")
        fitted[name] = (pipeline, sample)
    return repo, fitted


def test_manifests_say_what_comes_out(repo) -> None:
    from scorebridge.bundle import Bundle

    root, _ = repo
    labels, anomaly = Bundle.load(root / "labels"), Bundle.load(root / "anomaly")
    assert labels.task == "classification" and labels.classes == ["no", "yes"]
    assert labels.manifest["onnx"]["probability_output"] is None
    assert labels.manifest["pmml"]["probability_fields"] is None
    assert anomaly.task == "anomaly" and [o["name"] for o in anomaly.manifest["outputs"]] == ["prediction"]
    assert anomaly.manifest["pmml"]["prediction_field"] == "decisionFunction"


def test_service_serves_both(repo) -> None:
    from scoring_service import ServiceConfig, create_app

    root, fitted = repo
    app = create_app(ServiceConfig(repo=root, poll_interval=0, audit_log=None))
    try:
        client = Client(app)
        for name, (pipeline, sample) in fitted.items():
            rows = sample.head(8)
            records = json.loads(rows.to_json(orient="records"))
            r = client.post(f"/v1/models/{name}/predict", data=json.dumps({"records": records}),
                            headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.get_data()
            out = json.loads(r.get_data())["predictions"]
            if name == "labels":
                assert [p["label"] for p in out] == list(pipeline.predict(rows))
                assert all(p["probabilities"][p["label"]] == 1.0 and sum(p["probabilities"].values()) == 1.0
                           for p in out)
            else:
                np.testing.assert_allclose([p["prediction"] for p in out], pipeline.decision_function(rows),
                                           rtol=0, atol=1e-6)
    finally:
        app.extensions["scorebridge"].registry.stop()


@pytest.mark.parametrize("engine", ["onnx", "pmml"])
def test_scorebridge_predict_scores_both(repo, engine, tmp_path) -> None:
    root, fitted = repo
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, (pipeline, sample) in fitted.items():
        rows = sample.head(25)
        rows.to_csv(tmp_path / f"{name}.csv", index=False)
        out = tmp_path / f"{name}-out.csv"
        done = subprocess.run([sys.executable, "-m", "scorebridge", "predict", str(root / name), "--input",
                               str(tmp_path / f"{name}.csv"), "--output", str(out), "--engine", engine],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        got = pd.read_csv(out)
        if name == "labels":
            assert list(got.columns) == ["label", "probability_no", "probability_yes"]
            assert got["label"].tolist() == list(pipeline.predict(rows))
            assert ((got["probability_yes"] == 1.0) == (got["label"] == "yes")).all()
        else:
            assert list(got.columns) == ["prediction"]
            np.testing.assert_allclose(got["prediction"], pipeline.decision_function(rows), rtol=0, atol=1e-6)
