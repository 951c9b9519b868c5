"""The generator's naming rules, its refusals, and the ``scorebridge java`` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scorebridge.cli import main
from scorebridge.java.generate import JavaGenerateError, generate, java_fields, lower_camel, upper_camel

pytestmark = pytest.mark.java


@pytest.mark.parametrize(("name", "expected"), [
    ("credit_risk", "CreditRisk"), ("wine_class", "WineClass"), ("3d-model", "Model3dModel"),
    ("fraudScore", "FraudScore"),
])
def test_class_names_are_upper_camel(name: str, expected: str) -> None:
    assert upper_camel(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("debt_ratio", "debtRatio"), ("income", "income"), ("AGE", "age"), ("od280/od315 of wines", "od280Od315OfWines"),
    ("2nd_score", "f2ndScore"), ("creditLines", "creditLines"),
])
def test_field_methods_are_lower_camel(name: str, expected: str) -> None:
    assert lower_camel(name) == expected


def test_keywords_reserved_names_and_clashes_get_distinct_methods() -> None:
    fields = java_fields([{"name": n, "dtype": "float64"} for n in ("class", "build", "a_b", "aB", "a-b")])
    assert [f.method for f in fields] == ["classValue", "buildValue", "aB", "aB2", "aB3"]


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(JavaGenerateError, match="datetime"):
        java_fields([{"name": "when", "dtype": "datetime"}])


def test_bad_package_is_refused(sample_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(JavaGenerateError, match="package"):
        generate(sample_repo / "credit_risk", "com.example.class", tmp_path)


def test_generated_api_follows_the_manifest(sample_repo: Path, tmp_path: Path) -> None:
    client = generate(f"{sample_repo / 'credit_risk'}@latest", "com.acme.risk", tmp_path)
    src = {p.name: p.read_text() for p in client.files}
    scorer, inp, res = src["CreditRiskScorer.java"], src["CreditRiskInput.java"], src["CreditRiskResult.java"]
    assert "package com.acme.risk;" in scorer
    for factory in ("http(URI baseUrl)", "http(URI baseUrl, ClientOptions options)", "pmml(Path pmmlFile)",
                    "withFallback(Duration budget, CreditRiskResult defaultResult)",
                    "predictBatch(List<CreditRiskInput>"):
        assert factory in scorer
    manifest = json.loads((client.bundle_dir / "manifest.json").read_text())
    assert manifest["artifacts"]["pmml"]["sha256"] in scorer  # pmml(Path) checks the digest it was generated for
    for spec in manifest["inputs"]:
        method = lower_camel(spec["name"])
        assert f"public Builder {method}(" in inp
        for cat in spec.get("categories") or []:
            assert json.dumps(cat) in inp  # categories are documented
    assert "public Builder debtRatio(Double value)" in inp and "public Builder debtRatio(double value)" in inp
    assert "of(String label, Map<String, Double> probabilities)" in res and "prediction()" not in res

    reg = generate(sample_repo / "diabetes_progression", "com.acme.risk", tmp_path)
    reg_res = next(p for p in reg.files if p.name.endswith("Result.java")).read_text()
    assert "public static DiabetesProgressionResult of(double prediction)" in reg_res and "label()" not in reg_res


def test_cli_generate_and_errors(sample_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["java", "generate", str(sample_repo / "credit_risk"), "--package", "com.example.scoring",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "com/example/scoring/CreditRiskScorer.java").is_file()

    assert main(["java", "generate", str(tmp_path / "nowhere"), "--package", "com.x", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scorebridge: error: "), err

    assert main(["java", "generate", str(sample_repo / "credit_risk"), "--package", "1.x", "--out",
                 str(tmp_path)]) != 0
    assert capsys.readouterr().err.startswith("scorebridge: error: --package")


def test_cli_build_and_classpath(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["java", "build", "--out", str(tmp_path)]) == 0
    jar = Path(capsys.readouterr().out.strip())
    assert jar.parent == tmp_path and jar.stat().st_size > 10_000
    assert main(["java", "classpath", "--lines"]) == 0
    entries = capsys.readouterr().out.split()
    names = " ".join(Path(e).name for e in entries)
    assert "scorebridge-client" in names and "pmml-evaluator-metro" in names and "gson" in names
    assert all(Path(e).exists() for e in entries)


def test_java_missing_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from scorebridge import jvm
    from scorebridge.java import toolchain

    fake_home = tmp_path / "jre"
    (fake_home / "bin").mkdir(parents=True)
    (fake_home / "bin" / "java").touch()
    monkeypatch.setattr(jvm, "java_home", lambda: fake_home)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    toolchain.find_jdk.cache_clear()
    try:
        assert main(["java", "build", "--force"]) != 0
    finally:
        toolchain.find_jdk.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "javac" in err[0], err
