"""Helpers for the scoring service tests: verification data and comparison with the native pipeline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from scorebridge.bundle import Bundle


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


def drop_version(repo: Path, version: str, *, tamper: bool = False) -> None:
    """Add credit_risk/<version> the way an export does: staged in a hidden directory, then renamed."""
    staging = repo / "credit_risk" / f".{version}.tmp"
    shutil.copytree(repo / "credit_risk" / "1", staging)
    manifest = json.loads((staging / "manifest.json").read_text())
    manifest["version"] = version
    (staging / "manifest.json").write_text(json.dumps(manifest))
    if tamper:
        with open(staging / "model.onnx", "ab") as fh:
            fh.write(b"\0tampered")
    staging.rename(repo / "credit_risk" / version)


def error_of(response) -> dict:
    """An error answer's ``{code, message, field, record}``, from a v1 body (``{"error": {...}}``) or an
    Open Inference Protocol one (``{"error": "<message>", "code", "field", "record"}``)."""
    body = response.json()
    if isinstance(body["error"], dict):
        return body["error"]
    assert isinstance(body["error"], str) and response.request.path_url.startswith("/v2"), body
    return {"message": body["error"], "code": body["code"], "field": body["field"], "record": body["record"]}


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total
