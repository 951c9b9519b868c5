"""Fixtures for the Java client tests: the runtime jar, and every sample bundle's generated client
compiled once per session together with a small driver (``Harness.java.tmpl``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorebridge.bundle import Bundle
from scorebridge.java import toolchain
from scorebridge.java.generate import generate, upper_camel
from scorebridge.java.records import verification_inputs, write_jsonl

from .support import PACKAGE, TEMPLATE, JavaClient


@pytest.fixture(scope="session")
def runtime_classpath() -> list[Path]:
    """The runtime jar (built with javac) and its dependency jars."""
    return toolchain.runtime_classpath()


@pytest.fixture(scope="session")
def java_clients(sample_repo: Path, runtime_classpath: list[Path],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, JavaClient]:
    """Every sample bundle's generated client plus driver, compiled in one javac run."""
    work = tmp_path_factory.mktemp("java-clients")
    src, classes = work / "src", work / "classes"
    clients = {}
    for model_dir in sorted(p for p in sample_repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
        bundle = Bundle.load(model_dir)
        generated = generate(model_dir, PACKAGE, src)
        model = upper_camel(bundle.name)
        default = (f"{model}Result.of(0.0)" if bundle.task == "regression"
                   else f"{model}Result.of({model}Result.CLASSES.get(0), java.util.Map.of())")
        driver = (TEMPLATE.read_text().replace("__PACKAGE__", PACKAGE).replace("__MODEL__", model)
                  .replace("__DEFAULT__", default).replace("public class Harness", f"public class Harness{model}"))
        (src / f"Harness{model}.java").write_text(driver)
        rows_file = write_jsonl(verification_inputs(bundle), work / f"{bundle.name}.jsonl")
        assert len(generated.files) == 4
        clients[bundle.name] = JavaClient(bundle, model, [classes, *runtime_classpath], rows_file)
    assert {"credit_risk"} <= set(clients), f"sample repo {sample_repo} lacks credit_risk"
    toolchain.compile_java(sorted(src.rglob("*.java")), runtime_classpath, classes)
    return clients
