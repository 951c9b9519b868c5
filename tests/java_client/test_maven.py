"""The offline Maven builds: ``mvn -o install`` of the runtime (its JUnit 5 suite through Surefire) against the
project-local repository ``scorebridge java maven-repo`` assembles, and the Maven project that
``scorebridge java generate --maven`` writes for a model, installed next to the runtime and used from Java."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scorebridge.bundle import Bundle
from scorebridge.cli import main
from scorebridge.java import toolchain
from scorebridge.java.maven import MavenSetup, assemble, run_maven
from scorebridge.java.project import runtime_pom
from scorebridge.java.records import verification_inputs, write_jsonl

from .support import PACKAGE, TEMPLATE, JavaClient, assert_matches_native

pytestmark = pytest.mark.java

TEST_CLASSES = {"BundleRefTest", "FallbackPolicyTest", "PmmlScorerTest", "ScoringClientTest"}


def _surefire_counts(reports: Path) -> dict[str, dict[str, int]]:
    out = {}
    for xml in sorted(reports.glob("TEST-*.xml")):
        suite = ET.parse(xml).getroot()
        out[suite.get("name").rsplit(".", 1)[-1]] = {k: int(suite.get(k, "0"))
                                                     for k in ("tests", "failures", "errors", "skipped")}
    return out


@pytest.fixture(scope="module")
def maven() -> MavenSetup:
    return assemble()


@pytest.fixture(scope="module")
def runtime_installed(maven: MavenSetup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mvn -o install`` in a copy of java_client/ (as a user runs it: the copy's .mvn/maven.config names the
    settings), so the runtime is in the project-local repository for the generated project."""
    project = tmp_path_factory.mktemp("maven") / "java_client"
    source = toolchain.java_client_dir()
    shutil.copytree(source / "src", project / "src")
    shutil.copy(source / "pom.xml", project)
    (project / ".mvn").mkdir()
    for name in ("maven.config", "jvm.config"):
        shutil.copy(source / ".mvn" / name, project / ".mvn")
    res = subprocess.run([str(maven.mvn), "-o", "-B", "--no-transfer-progress", "install"], cwd=project,
                         capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "BUILD SUCCESS" in res.stdout
    return project


def test_runtime_builds_and_passes_its_junit_suite_offline(runtime_installed: Path, maven: MavenSetup) -> None:
    counts = _surefire_counts(runtime_installed / "target" / "surefire-reports")
    assert set(counts) == TEST_CLASSES, counts
    assert all(c["failures"] == c["errors"] == c["skipped"] == 0 for c in counts.values()), counts
    assert sum(c["tests"] for c in counts.values()) >= 29, counts
    pom = runtime_pom(runtime_installed / "pom.xml")
    jar = maven.repository / "io/scorebridge" / pom.artifact / pom.version / f"{pom.artifact}-{pom.version}.jar"
    assert jar.is_file() and jar.stat().st_size > 10_000
    # the JPMML and Gson jars came from the Python packages, each with a pom naming its dependencies
    metro = maven.repository / "org/jpmml/pmml-evaluator-metro/1.7.7/pmml-evaluator-metro-1.7.7.pom"
    assert "<artifactId>pmml-evaluator</artifactId>" in metro.read_text()


def test_generated_maven_project_installs_next_to_the_runtime(runtime_installed: Path, maven: MavenSetup,
                                                              sample_repo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "credit-risk-client"
    assert main(["java", "generate", str(sample_repo / "credit_risk"), "--package", PACKAGE,
                 "--maven", str(project)]) == 0
    written = capsys.readouterr().out.split()
    assert str(project / "pom.xml") in written
    resource = project / "src/main/resources/models/credit_risk.pmml"
    assert resource.is_file() and str(resource) in written

    res = run_maven(maven, project, "install")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    pom = ET.parse(project / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = pom.findtext("m:version", namespaces=ns)
    bundle = Bundle.load(sample_repo / "credit_risk")
    assert version == bundle.version and pom.findtext("m:artifactId", namespaces=ns) == "credit-risk-client"
    installed = maven.repository / PACKAGE.replace(".", "/") / "credit-risk-client" / version
    jar = installed / f"credit-risk-client-{version}.jar"
    assert jar.is_file()

    # A Java program against the two installed jars (not the sources): the PMML comes from the client's jar.
    runtime = runtime_pom()
    runtime_jar = (maven.repository / runtime.group.replace(".", "/") / runtime.artifact / runtime.version
                   / f"{runtime.artifact}-{runtime.version}.jar")
    src, classes = tmp_path / "driver", tmp_path / "classes"
    src.mkdir()
    (src / "Harness.java").write_text(
        TEMPLATE.read_text().replace("__PACKAGE__", PACKAGE).replace("__MODEL__", "CreditRisk")
        .replace("__DEFAULT__", 'CreditRiskResult.of("0", java.util.Map.of())'))
    cp = [jar, runtime_jar, *toolchain.dependency_classpath()]
    toolchain.compile_java([src / "Harness.java"], cp, classes)
    rows = write_jsonl(verification_inputs(bundle), tmp_path / "rows.jsonl")
    client = JavaClient(bundle, "CreditRisk", [classes, *cp], rows, harness="Harness")
    preds = client.json_lines("resource", "models/credit_risk.pmml", str(rows))
    assert {p["engine"] for p in preds} == {"pmml"}
    assert_matches_native(preds, bundle)


def test_maven_options_need_maven(sample_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["java", "generate", str(sample_repo / "credit_risk"), "--package", PACKAGE, "--out", str(tmp_path),
                 "--artifact-id", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "go with --maven" in err[0], err
    assert main(["java", "generate", str(sample_repo / "credit_risk"), "--package", PACKAGE, "--maven",
                 str(tmp_path / "p"), "--version", "1 0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a valid Maven coordinate" in err[0], err
