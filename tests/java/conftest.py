"""Fixtures for the Java client tests: the runtime jar, and every sample bundle's generated client
compiled once per session together with a small driver (``Harness.java.tmpl``)."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scorebridge.bundle import Bundle
from scorebridge.java import toolchain
from scorebridge.java.generate import generate, upper_camel

PACKAGE = "com.example.scoring"
TEMPLATE = Path(__file__).with_name("Harness.java.tmpl")


@dataclass
class JavaClient:
    """One sample bundle with its generated, compiled client and driver."""

    bundle: Bundle
    model_class: str
    classpath: list[Path]
    rows_file: Path

    @property
    def manifest(self) -> dict[str, Any]:
        return self.bundle.manifest

    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run this model's driver; with ``check``, fail the test with Java's output if it exits non-zero."""
        res = toolchain.run_java(f"Harness{self.model_class}", self.classpath, list(args), timeout=timeout)
        if check:
            assert res.returncode == 0, (f"java {' '.join(args)} exited {res.returncode}:\n"
                                         f"{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
        return res

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        """Run the driver and parse its JSON-lines answer (NaN allowed)."""
        return [json.loads(line) for line in self.run(*args).stdout.splitlines() if line.strip()]


def input_rows(bundle: Bundle) -> list[dict[str, Any]]:
    """The verification rows' inputs as JSON-ready dicts: NaN -> None, whole int64 inputs -> int."""
    frame = bundle.read_verification()
    rows = []
    for rec in frame[[i["name"] for i in bundle.manifest["inputs"]]].to_dict("records"):
        row = {}
        for spec in bundle.manifest["inputs"]:
            v = rec[spec["name"]]
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                v = None
            elif spec["dtype"] == "int64":
                v = int(v)
            elif spec["dtype"] == "float64":
                v = float(v)
            elif spec["dtype"] == "bool":
                v = bool(v)
            row[spec["name"]] = v
        rows.append(row)
    return rows


def tolerance(manifest: dict[str, Any]) -> float:
    """The bundle's tolerance (``tolerance.value``, or ``tolerance.probability`` in older manifests)."""
    tol = manifest.get("tolerance") or {}
    return float(tol.get("value") or tol.get("probability") or 1e-5)


def assert_matches_native(preds: list[dict[str, Any]], bundle: Bundle) -> None:
    """Java answers vs the bundle's native outputs, within the manifest tolerance (missing rows included).

    Labels must agree wherever the native winning margin exceeds the tolerance (the bundle contract)."""
    frame = bundle.read_verification()
    manifest = bundle.manifest
    tol = tolerance(manifest)
    assert len(preds) == len(frame)
    if manifest["task"] == "regression":
        native = frame["native_prediction"].to_numpy()
        for i, (p, y) in enumerate(zip(preds, native, strict=True)):
            assert abs(p["prediction"] - y) <= tol * max(1.0, abs(y)), f"row {i}: java {p['prediction']} native {y}"
        return
    classes = list(preds[0]["probabilities"])
    worst = 0.0
    for i, p in enumerate(preds):
        native = {c: float(frame[f"native_probability_{c}"].iloc[i]) for c in classes}
        diff = max(abs(p["probabilities"][c] - native[c]) for c in classes)
        worst = max(worst, diff)
        assert diff <= tol, f"row {i}: java {p['probabilities']} native {native} (diff {diff:.3g} > {tol})"
        top = sorted(native.values(), reverse=True)
        margin = top[0] - top[1] if len(top) > 1 else 1.0
        if margin > tol:
            assert p["label"] == str(frame["native_label"].iloc[i]), f"row {i}: label {p['label']} vs native"


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
        rows_file = work / f"{bundle.name}.jsonl"
        rows_file.write_text("".join(json.dumps(r) + "\n" for r in input_rows(bundle)))
        assert len(generated.files) == 4
        clients[bundle.name] = JavaClient(bundle, model, [classes, *runtime_classpath], rows_file)
    assert {"credit_risk"} <= set(clients), f"sample repo {sample_repo} lacks credit_risk"
    toolchain.compile_java(sorted(src.rglob("*.java")), runtime_classpath, classes)
    return clients
