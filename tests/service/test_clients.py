"""Real Open Inference Protocol clients score unchanged against the real server: NVIDIA's tritonclient
(JSON and binary tensors), KServe's SDK REST client (JSON and binary) and MLServer's codecs.

Each runs in a process of its own, as in a user's program (KServe's and MLServer's packages register
the same protobuf messages and cannot be imported into one process).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from service.helpers import assert_matches_native, json_records, verification

CLIENTS = Path(__file__).parent / "clients"


def _rows(service_repo: Path, model: str, tmp_path: Path):
    """Verification rows a V2 client can send: BYTES tensors cannot carry a missing value, so rows with
    a missing category are left out (NaN numbers stay: they travel as NaN or null)."""
    bundle, inputs, native = verification(service_repo, model)
    strings = [f.name for f in bundle.schema.fields if not f.is_numeric]
    keep = inputs[strings].notna().all(axis=1).to_numpy() if strings else slice(None)
    inputs, native = inputs[keep].head(60), native[keep].head(60)
    path = tmp_path / f"{model}.json"
    path.write_text(json.dumps(json_records(inputs)))
    return bundle, native, path


def _needs(package: str) -> None:
    """Skip without ``package``, found without importing it here (see the module docstring)."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (scripts/bootstrap.sh test installs it)")


def _run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(CLIENTS / script), *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["json", "binary"])
@pytest.mark.parametrize("model", ["credit_risk", "wine_class", "diabetes_progression"])
def test_tritonclient(service: str, service_repo: Path, tmp_path: Path, model: str, mode: str) -> None:
    _needs("tritonclient")
    bundle, native, records = _rows(service_repo, model, tmp_path)
    answer = _run("triton.py", service, model, str(records), mode)
    assert_matches_native(bundle, native, answer["outputs"], "onnx")
    assert answer["default_outputs_equal"] and answer["id"] == "triton-1"
    assert "binary_tensor_data" in answer["server"]["extensions"]
    # the protocol's error body: tritonclient reads the message as a string (it raised TypeError before)
    assert answer["error"]["status"] == "404" and "no model 'no_such_model'" in answer["error"]["message"]


@pytest.mark.parametrize("mode", ["json+gzip", "binary+gzip", "json+deflate", "binary+deflate"])
def test_tritonclient_with_compression(service: str, service_repo: Path, tmp_path: Path, mode: str) -> None:
    """tritonclient's own request compression (gzip, and deflate in zlib's format) scores as uncompressed;
    asked for compressed answers, it reads the uncompressed ones the server sends."""
    _needs("tritonclient")
    bundle, native, records = _rows(service_repo, "credit_risk", tmp_path)
    answer = _run("triton.py", service, "credit_risk", str(records), mode)
    assert_matches_native(bundle, native, answer["outputs"], "onnx")
    assert answer["default_outputs_equal"] and answer["id"] == "triton-1"
    assert answer["error"]["status"] == "404" and "no model 'no_such_model'" in answer["error"]["message"]


@pytest.mark.parametrize("mode", ["json", "binary"])
def test_kserve_rest_client(service: str, service_repo: Path, tmp_path: Path, mode: str) -> None:
    _needs("kserve")
    bundle, native, records = _rows(service_repo, "credit_risk", tmp_path)
    answer = _run("kserve_rest.py", service, "credit_risk", str(records), mode)
    assert_matches_native(bundle, native, answer["outputs"], "onnx")
    assert answer["id"] == "kserve-1"
    assert answer["error"]["status"] == 404 and "no model 'no_such_model'" in answer["error"]["message"]
    assert "{" not in answer["error"]["message"].split(",")[0]  # the message, not a dict


@pytest.mark.parametrize("model", ["credit_risk", "wine_class"])
def test_mlserver_codecs(service: str, service_repo: Path, tmp_path: Path, model: str) -> None:
    _needs("mlserver")
    bundle, native, records = _rows(service_repo, model, tmp_path)
    answer = _run("mlserver_codecs.py", service, model, str(records))
    outputs = {k: [None if isinstance(v, float) and math.isnan(v) else v for v in vs]
               for k, vs in answer["outputs"].items()}
    assert_matches_native(bundle, native, outputs, "onnx")
    error = answer["error"]
    assert error["status"] == 404 and isinstance(error["body"]["error"], str)
    assert error["body"]["code"] == "model_not_found"
