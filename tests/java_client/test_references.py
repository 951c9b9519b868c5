"""Bundle references (``<dir>``, ``<repo>/<name>``, ``<repo>/<name>@<version>``) in the Java runtime, the
generated ``pmml(...)``/``http(...)`` factories and the generator, and a bundle that ships no PMML.

The repository here holds credit_risk versions 1 and 2 (with PMML) and 10 (ONNX only, made by editing a copy's
manifest the way an ONNX-only export writes it): "latest" is 10 in natural order, not 2.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scorebridge.bundle import resolve
from scorebridge.cli import main
from scorebridge.errors import BundleError
from scorebridge.java import toolchain
from scoring_service.testing import running_service

from .support import JavaClient, assert_matches_native, write_client

pytestmark = pytest.mark.java


def _artifacts(repo: Path, version: str) -> list[str]:
    return sorted(json.loads((repo / "credit_risk" / version / "manifest.json").read_text())["artifacts"])


def _copy_version(src: Path, dest: Path, version: str, *, pmml: bool = True) -> None:
    shutil.copytree(src, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["version"] = version
    if not pmml:
        (dest / manifest["artifacts"].pop("pmml")["file"]).unlink()
        manifest.pop("pmml", None)
        manifest.get("fidelity", {}).pop("pmml", None)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.fixture(scope="module")
def repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = resolve(sample_repo / "credit_risk")
    root = tmp_path_factory.mktemp("refs") / "models"
    for version, pmml in (("1", True), ("2", True), ("10", False)):
        _copy_version(source, root / "credit_risk" / version, version, pmml=pmml)
    (root / "credit_risk" / ".tmp-3").mkdir()  # an export in progress: not a version
    (root / "credit_risk" / "7").mkdir()  # no manifest: not a version
    return root


@pytest.fixture(scope="module")
def clients(repo: Path, runtime_classpath: list[Path], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, JavaClient]:
    """The client generated from credit_risk@2 (with PMML) and from credit_risk (latest: 10, no PMML)."""
    work = tmp_path_factory.mktemp("refs-java")
    src, classes = work / "src", work / "classes"
    out = {"v2": write_client(f"{repo / 'credit_risk'}@2", "com.example.v2", src, work, classes, runtime_classpath,
                              "V2"),
           "latest": write_client(repo / "credit_risk", "com.example.latest", src, work, classes, runtime_classpath,
                                  "Latest")}
    toolchain.compile_java(sorted(src.rglob("*.java")), runtime_classpath, classes)
    return out


@pytest.fixture(scope="module")
def service(repo: Path) -> Iterator[str]:
    with running_service(repo, engine="onnx", workers=1) as url:
        yield url


def test_java_resolves_references_exactly_as_python(repo: Path, clients: dict[str, JavaClient]) -> None:
    model = repo / "credit_risk"
    refs = [str(model), f"{model}@latest", f"{model}@", f"{model}@1", f"{model}@2", f"{model}@10", str(model / "2"),
            f"{model}@9", f"{model}@7", str(repo / "nope"), f"{repo / 'nope'}@1", str(repo), f"{model / '2'}@2",
            f"{model}/", f"{model}/@1"]
    answers = clients["v2"].json_lines("resolve", *refs)
    assert [a["ref"] for a in answers] == refs
    for ref, answer in zip(refs, answers, strict=True):
        try:
            expected = {"path": str(resolve(ref))}
        except BundleError as exc:
            expected = {"error": str(exc)}
        assert {k: v for k, v in answer.items() if k != "ref"} == expected, ref
    assert answers[0]["path"] == str(model / "10")  # natural order: 10 is newer than 2
    assert answers[7]["error"] == "model 'credit_risk' has no version '9'; available: 1, 2, 10"


def test_pmml_takes_every_reference_and_refuses_a_bundle_without_pmml(repo: Path,
                                                                     clients: dict[str, JavaClient]) -> None:
    client, model = clients["v2"], repo / "credit_risk"
    preds = client.json_lines("pmml", f"{model}@2", str(client.rows_file))
    assert {p["version"] for p in preds} == {"2"}
    assert_matches_native(preds, client.bundle)
    refs = [str(model), f"{model}@latest", f"{model}@9", str(repo / "nowhere"), str(repo / "nowhere.pmml")]
    errors = dict(zip(refs, client.json_lines("open", "pmml", *refs), strict=True))
    has = ", ".join(_artifacts(repo, "10"))
    assert "pmml" not in has and "onnx" in has
    for ref in (str(model), f"{model}@latest"):
        assert errors[ref] == {"error": f"bundle credit_risk@10 at {model / '10'} has no PMML artifact (it has: {has}):"
                                        " in-process scoring needs one; score it over HTTP, or re-export it with PMML"}
    assert errors[f"{model}@9"] == {"error": "model 'credit_risk' has no version '9'; available: 1, 2, 10"}
    for ref in (str(repo / "nowhere"), str(repo / "nowhere.pmml")):
        assert errors[ref] == {"error": f"no PMML file or bundle at '{ref}': expected a .pmml file, a bundle "
                                        "directory or <repo>/<name>[@version]"}


def test_http_with_a_bundle_reference_pins_its_version(repo: Path, clients: dict[str, JavaClient],
                                                       service: str) -> None:
    client, model = clients["v2"], repo / "credit_risk"
    for ref, version in ((f"{model}@1", "1"), (str(model), "10")):
        preds = client.json_lines("http-bundle", service, ref, str(client.rows_file))
        assert {p["version"] for p in preds} == {version}, ref
        assert {p["engine"] for p in preds} == {"http:onnx"}
        assert_matches_native(preds, client.bundle)
    opened = client.json_lines("open", "http", service, f"{model}@3", str(model / "2"))
    assert opened[0] == {"error": "model 'credit_risk' has no version '3'; available: 1, 2, 10"}
    assert opened[1] == {"ok": "CreditRiskScorer[HttpEngine]"}


def test_client_of_a_bundle_without_pmml_scores_over_http_only(repo: Path, clients: dict[str, JavaClient],
                                                               service: str) -> None:
    client = clients["latest"]
    has = _artifacts(repo, "10")
    assert client.generated.notes == ("bundle credit_risk@10: The bundle has no PMML artifact (it has: "
                                      f"{', '.join(has)}): in-process scoring (pmml(...)) is unavailable; "
                                      "http(...) works.",)
    scorer_src = next(p for p in client.generated.files if p.name == "CreditRiskScorer.java").read_text()
    model_expr = scorer_src.split("MODEL =")[1].split(".build()")[0]
    assert "The bundle has no PMML artifact" in scorer_src
    assert ".pmml(" not in model_expr and '.artifact("onnx")' in model_expr
    (spec,) = client.json_lines("spec")
    assert spec == {"version": "10", "artifacts": ",".join(has), "pmml": False}
    preds = client.json_lines("http", service, str(client.rows_file))
    assert {p["version"] for p in preds} == {"10"}
    assert_matches_native(preds, client.bundle)
    # its pmml(...) refuses the bundle it came from, and loads a version that has PMML (checked against it)
    preds = client.json_lines("pmml", f"{repo / 'credit_risk'}@1", str(client.rows_file))
    assert {p["version"] for p in preds} == {"1"}
    # a bare model.pmml has no digest to be checked against
    refused, bare = client.json_lines("open", "pmml", str(repo / "credit_risk"),
                                      str(repo / "credit_risk" / "1" / "model.pmml"))
    assert f"has no PMML artifact (it has: {', '.join(has)})" in refused["error"]
    assert "generated from a bundle without PMML" in bare["error"]


def test_generate_cli_on_every_reference(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = repo / "credit_risk"
    for ref, version in ((str(model / "1"), "1"), (f"{model}@2", "2"), (f"{model}@latest", "10")):
        out = tmp_path / version
        assert main(["java", "generate", ref, "--package", "com.example.scoring", "--out", str(out)]) == 0
        scorer = (out / "com/example/scoring/CreditRiskScorer.java").read_text()
        assert f'.version("{version}")' in scorer, ref
        err = capsys.readouterr().err
        assert ("in-process scoring (pmml(...)) is unavailable" in err) == (version == "10"), err
    for ref, message in ((f"{model}@9", "model 'credit_risk' has no version '9'; available: 1, 2, 10"),
                         (str(repo / "nope"), "no bundle at")):
        assert main(["java", "generate", ref, "--package", "com.x", "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scorebridge: error: ") and message in err[0], err
