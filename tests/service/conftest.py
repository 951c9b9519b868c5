"""Fixtures for the scoring service tests: the real gunicorn server on a free loopback port."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from scorebridge.bundle import Bundle, list_models
from scoring_service.testing import running_service

SERVICE_ARGS = ["--max-records", "500", "--max-body-mb", "1", "--poll-interval", "0", "--audit-sample", "1"]


@pytest.fixture(scope="session")
def service_repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample repository that the shared server serves (tests only read it)."""
    dest = tmp_path_factory.mktemp("service") / "models"
    shutil.copytree(sample_repo, dest)
    # plus a model whose pipeline cannot take a missing income (the manifest is not digest-covered)
    strict = dest / "credit_strict" / "1"
    shutil.copytree(dest / "credit_risk" / "1", strict)
    manifest = json.loads((strict / "manifest.json").read_text())
    manifest["name"] = "credit_strict"
    next(f for f in manifest["inputs"] if f["name"] == "income")["nullable"] = False
    (strict / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.fixture(scope="session")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="session")
def service(service_repo: Path, audit_log: Path) -> Iterator[str]:
    """The shared server: 2 workers, ONNX engine, small limits, every request audited with its data."""
    with running_service(service_repo, workers=2, args=[*SERVICE_ARGS, "--audit-log", str(audit_log)]) as base:
        yield base


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def model_names(service_repo: Path) -> list[str]:
    return list(list_models(service_repo))


# -- helpers ----------------------------------------------------------------------------------
def verification(repo: Path, name: str) -> tuple[Bundle, pd.DataFrame, pd.DataFrame]:
    """(bundle, input columns, native_* output columns) of a sample model's verification set."""
    bundle = Bundle.load(repo / name)
    frame = bundle.read_verification()
    inputs = frame[bundle.schema.names]
    native = frame[[c for c in frame.columns if c.startswith("native_")]]
    return bundle, inputs, native


def json_records(inputs: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON records, missing values (NaN, None) as null."""
    return json.loads(inputs.to_json(orient="records"))


def tolerance(bundle: Bundle, engine: str) -> float:
    """The engine artifact's fidelity tolerance from the manifest (native: float64 round-off)."""
    if engine == "native":
        return 1e-9
    return float(bundle.manifest["fidelity"][engine]["tolerance"])


def assert_matches_native(bundle: Bundle, native: pd.DataFrame, outputs: dict[str, list], engine: str) -> None:
    """Outputs (``{output column: values}``) equal the native pipeline's within the bundle tolerance.

    Labels must agree wherever the native winning margin exceeds the tolerance.
    """
    tol = tolerance(bundle, engine)
    if not bundle.is_classifier:
        got = np.asarray(outputs["prediction"], dtype=float)
        want = native["native_prediction"].to_numpy(dtype=float)
        relative = "relative" in str((bundle.manifest.get("tolerance") or {}).get("kind", ""))
        allowed = tol * (np.maximum(1.0, np.abs(want)) if relative else 1.0)
        assert np.all(np.abs(got - want) <= allowed), np.max(np.abs(got - want) / allowed)
        return
    cols = [f"probability_{c}" for c in bundle.classes]
    got = np.column_stack([np.asarray(outputs[c], dtype=float) for c in cols])
    want = native[[f"native_{c}" for c in cols]].to_numpy(dtype=float)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    ordered = np.sort(want, axis=1)
    clear = (ordered[:, -1] - ordered[:, -2]) > tol
    labels = np.asarray(outputs["label"], dtype=object)
    native_labels = native["native_label"].to_numpy(dtype=object)
    assert [str(v) for v in labels[clear]] == [str(v) for v in native_labels[clear]]


def predictions_to_columns(bundle: Bundle, predictions: list[dict]) -> dict[str, list]:
    """v1 JSON predictions -> ``{output column: values}``."""
    if bundle.is_classifier:
        out = {"label": [p["label"] for p in predictions]}
        for c in bundle.classes:
            out[f"probability_{c}"] = [p["probabilities"][str(c)] for p in predictions]
        return out
    return {"prediction": [p["prediction"] for p in predictions]}
