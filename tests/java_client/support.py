"""Helpers of the Java client tests: a compiled client with its driver, and the comparison with native outputs."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebridge.bundle import Bundle
from scorebridge.java import toolchain
from scorebridge.java.generate import GeneratedClient, generate
from scorebridge.java.records import verification_inputs, write_jsonl

PACKAGE = "com.example.scoring"
TEMPLATE = Path(__file__).with_name("Harness.java.tmpl")


@dataclass
class JavaClient:
    """One sample bundle with its generated, compiled client and driver."""

    bundle: Bundle
    model_class: str
    classpath: list[Path]
    rows_file: Path
    harness: str = ""
    generated: GeneratedClient | None = None

    @property
    def manifest(self) -> dict[str, Any]:
        return self.bundle.manifest

    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run this model's driver; with ``check``, fail the test with Java's output if it exits non-zero."""
        res = toolchain.run_java(self.harness or f"Harness{self.model_class}", self.classpath, list(args),
                                 timeout=timeout)
        if check:
            assert res.returncode == 0, (f"java {' '.join(args)} exited {res.returncode}:\n"
                                         f"{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
        return res

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        """Run the driver and parse its JSON-lines answer (NaN allowed)."""
        return [json.loads(line) for line in self.run(*args).stdout.splitlines() if line.strip()]


def write_client(ref: str | Path, package: str, src: Path, work: Path, classes: Path, runtime: list[Path],
                 suffix: str = "") -> JavaClient:
    """Generate the client of bundle ``ref`` into ``src`` with its driver ``Harness<Model><suffix>`` (compile
    ``src`` into ``classes`` afterwards, once for all clients)."""
    generated = generate(ref, package, src)
    bundle, model = generated.bundle, generated.model_class
    default = (f"{model}Result.of(0.0)" if bundle.task == "regression"
               else f"{model}Result.of({model}Result.CLASSES.get(0), java.util.Map.of())")
    harness = f"Harness{model}{suffix}"
    driver = (TEMPLATE.read_text().replace("__PACKAGE__", package).replace("__MODEL__", model)
              .replace("__DEFAULT__", default).replace("public class Harness", f"public class {harness}"))
    (src / f"{harness}.java").write_text(driver)
    rows_file = write_jsonl(verification_inputs(bundle), work / f"{bundle.name}{suffix}.jsonl")
    return JavaClient(bundle, model, [classes, *runtime], rows_file, harness, generated)


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


