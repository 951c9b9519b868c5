"""The contract: /openapi.json is a valid OpenAPI 3.1 document, a client generated from it by
openapi-python-client scores and parses the answers, and schemathesis (``--checks all``) finds no
request on any operation that the server answers against its own document. All against the real
gunicorn server."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scoring_service.testing import running_service, worker_pids
from service.helpers import assert_matches_native, json_records, predictions_to_columns, verification

TOKEN = "contract-token"


@pytest.fixture(scope="module")
def contract_server(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Two models (integer and string labels), admin on, a small --max-records so generated bodies stay small."""
    root = tmp_path_factory.mktemp("contract")
    repo = root / "models"
    for name in ("credit_risk", "wine_class"):
        shutil.copytree(sample_repo / name, repo / name)
    log = root / "serve.log"
    with running_service(repo, workers=2, env={"SCOREBRIDGE_ADMIN_TOKEN": TOKEN}, log_path=log,
                         args=["--audit-log", "off", "--poll-interval", "0", "--max-records", "20"]) as base:
        yield base, log


def test_openapi_document_is_valid(contract_server: tuple[str, Path], service: str) -> None:
    from openapi_spec_validator import validate

    for base in (contract_server[0], service):  # with and without admin endpoints
        spec = requests.get(f"{base}/openapi.json").json()
        validate(spec)  # raises on any error
        assert ("/v1/admin/reload" in spec["paths"]) == (base == contract_server[0])
        assert {"/v2/", "/v2/models/{name}/versions/{version}/ready"} <= set(spec["paths"])


def test_generated_client_scores_and_parses(contract_server: tuple[str, Path], sample_repo: Path,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("openapi-python-client") is None:
        pytest.skip("openapi-python-client is not installed (the test extra installs it)")
    base = contract_server[0]
    (tmp_path / "spec.json").write_text(requests.get(f"{base}/openapi.json").text)
    done = subprocess.run(["openapi-python-client", "generate", "--path", "spec.json", "--meta", "none",
                           "--output-path", "scoreclient"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    monkeypatch.syspath_prepend(str(tmp_path))
    client_mod = importlib.import_module("scoreclient")
    api = importlib.import_module("scoreclient.api.default")
    models = importlib.import_module("scoreclient.models")
    generated = {p.stem for p in Path(api.__file__).parent.glob("*.py")}
    assert {"predict_credit_risk", "infer_credit_risk", "infer", "v2_model_metadata", "admin_reload"} <= generated
    client = client_mod.Client(base_url=base, raise_on_unexpected_status=True)

    bundle, inputs, native = verification(sample_repo, "credit_risk")
    body = models.PredictRequestCreditRisk.from_dict({"records": json_records(inputs)[:20]})
    answer = importlib.import_module("scoreclient.api.default.predict_credit_risk").sync(client=client, body=body)
    assert type(answer).__name__ == "PredictResponseCreditRisk" and answer.model == "credit_risk"
    predictions = answer.to_dict()["predictions"]
    assert_matches_native(bundle, native.head(20), predictions_to_columns(bundle, predictions), "onnx")

    # a typed error, and the V2 operations are there and parse
    missing = importlib.import_module("scoreclient.api.default.predict").sync(
        "no_such_model", client=client, body=models.PredictRequest.from_dict({"records": [{}]}))
    assert type(missing).__name__ == "Error" and missing.error.code == "model_not_found"
    meta = importlib.import_module("scoreclient.api.default.v2_model_metadata").sync("credit_risk", client=client)
    assert [i.name for i in meta.inputs] == bundle.schema.names
    record = json_records(inputs)[0]
    tensors = [{"name": i.name, "datatype": i.datatype, "shape": [1], "data": [record[i.name]]} for i in meta.inputs]
    infer = importlib.import_module("scoreclient.api.default.infer_credit_risk")
    result = infer.sync(client=client, body=models.InferRequestCreditRisk.from_dict({"inputs": tensors}))
    assert type(result).__name__ == "InferResponse" and result.model_name == "credit_risk"
    assert {o.name for o in result.outputs} == set(bundle.output_columns)


def test_schemathesis_finds_no_failure(contract_server: tuple[str, Path], tmp_path: Path) -> None:
    if shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (the test extra installs it)")
    base, log = contract_server
    pids = worker_pids(base)
    config = Path(__file__).with_name("schemathesis.toml")
    # one worker: hypothesis builds strategies with ast, which is not thread safe here (a "recursion depth
    # mismatch" runtime error with --workers 2). Bounded: a few examples per operation, and no stateful
    # phase (its inferred links send a served name to the templated paths, which document only the names
    # this server does not serve)
    done = subprocess.run(
        ["schemathesis", "--config-file", str(config), "run", f"{base}/openapi.json", "--checks", "all",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "3", "--workers", "1", "--seed", "17",
         "--header", f"Authorization: Bearer {TOKEN}", "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache directory goes there
    summary = done.stdout[-6000:]
    assert done.returncode == 0, summary
    assert "passed" in summary and " failures" not in summary.splitlines()[-1], summary
    assert worker_pids(base) == pids  # no worker died on the way
    errors = [line for line in log.read_text().splitlines() if "[ERROR]" in line]
    assert errors == [], errors[:5]  # and nothing was a server-side failure


def test_json_dumps_of_the_spec_has_no_absolute_path(contract_server: tuple[str, Path], sample_repo: Path) -> None:
    text = requests.get(f"{contract_server[0]}/openapi.json").text
    assert str(sample_repo.parent) not in text and json.loads(text)["openapi"] == "3.1.0"
    assert sys.version_info >= (3, 11)
