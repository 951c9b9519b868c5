"""In-process PMML scoring through the generated typed clients, against the native pipeline's outputs."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .support import JavaClient, assert_matches_native

pytestmark = pytest.mark.java


def test_pmml_plain_and_transpiled_match_native_on_every_verification_row(
        java_clients: dict[str, JavaClient]) -> None:
    """Each sample model, loaded from its model.pmml (plain JPMML) and from its bundle directory (transpiled)."""
    def score(client: JavaClient) -> list[dict]:
        return client.json_lines("pmml", str(client.bundle.artifact_path("pmml")), str(client.rows_file), "plain") + \
            client.json_lines("pmml", str(client.bundle.path), str(client.rows_file), "transpiled")

    # One JVM per model and mode; two at a time (the machine has two cores), the transpiler's javac dominates.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(java_clients, pool.map(score, java_clients.values()), strict=True))
    for name, preds in results.items():
        client = java_clients[name]
        # The verification rows include one with each nullable input missing: they are compared too.
        assert ": null" in client.rows_file.read_text(), name
        for engine in ("pmml", "pmml-transpiled"):
            mine = [p for p in preds if p["engine"] == engine]
            assert {p["version"] for p in mine} == {client.bundle.version}, name
            assert_matches_native(mine, client.bundle)


def test_modified_pmml_is_refused(java_clients: dict[str, JavaClient], tmp_path: Path) -> None:
    client = java_clients["credit_risk"]
    tampered = tmp_path / "model.pmml"
    shutil.copyfile(client.bundle.artifact_path("pmml"), tampered)
    with tampered.open("a") as fh:
        fh.write("\n<!-- edited -->\n")
    out = client.run("pmml", str(tampered), str(client.rows_file), check=False)
    assert out.returncode != 0
    assert "sha256 mismatch" in out.stderr
