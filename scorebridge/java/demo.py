"""The quickstart's Java stage: generate a typed client, compile a small program, score both ways.

The program is what a Java engineer would write: records built with the typed builder, one scorer over
HTTP and one in-process from the PMML, a fallback with a time budget, and the answers side by side.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from scorebridge.bundle import Bundle
from scorebridge.java import toolchain
from scorebridge.java.generate import GeneratedClient, generate, java_fields, java_string
from scorebridge.java.records import verification_inputs

PACKAGE = "com.example.scoring"


def _literal(value: Any, dtype: str) -> str | None:
    """A Java literal for a builder argument, or None for a missing value (the setter is left out)."""
    if value is None:
        return None
    if dtype == "float64":
        return repr(float(value))
    if dtype == "int64":
        return f"{int(value)}L"
    if dtype == "bool":
        return "true" if value else "false"
    return java_string(str(value))


def _sample_records(bundle: Bundle, count: int = 3) -> list[dict[str, Any]]:
    """The first verification rows, plus the first one with a missing input (to show missing values)."""
    rows = verification_inputs(bundle)
    with_missing = next((r for r in rows if None in r.values()), None)
    return rows[: count - 1] + [with_missing or rows[count - 1]]


def program_source(client: GeneratedClient, bundle: Bundle, records: list[dict[str, Any]]) -> str:
    """Java source of the demo program for ``bundle``'s generated client."""
    model = client.model_class
    fields = java_fields(bundle.manifest["inputs"])
    builds = []
    for rec in records:
        calls = []
        for f in fields:
            lit = _literal(rec[f.name], f.dtype)
            calls.append(f".{f.method}({lit})" if lit is not None else f"/* {f.method}: missing */")
        builds.append(f"            {model}Input.builder()" + "".join(f"\n                {c}" for c in calls)
                      + "\n                .build()")
    records_src = ",\n".join(builds)
    regression = bundle.task != "classification"
    show = ('String.format("%.6f", r.prediction())' if regression else
            'r.label() + " " + r.probabilities().entrySet().stream().map(e -> String.format("p(%s)=%.6f", '
            'e.getKey(), e.getValue())).collect(java.util.stream.Collectors.joining(" "))')
    # The safe default: the first class with certainty (e.g. "no default" for credit risk), or 0.0.
    default = f"{model}Result.of(0.0)" if regression else (
        f"{model}Result.of({model}Result.CLASSES.get(0), {model}Result.CLASSES.stream().collect("
        f"java.util.stream.Collectors.toMap(c -> c, c -> c.equals({model}Result.CLASSES.get(0)) ? 1.0 : 0.0)))")
    return f"""import {PACKAGE}.{model}Input;
import {PACKAGE}.{model}Result;
import {PACKAGE}.{model}Scorer;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

public class ScoringDemo {{
    static String show({model}Result r) {{
        return {show};
    }}

    public static void main(String[] args) {{
        List<{model}Input> records = List.of(
{records_src});
        {model}Scorer http = {model}Scorer.http(URI.create(args[0]));
        {model}Scorer pmml = {model}Scorer.pmml(Path.of(args[1]));
        System.out.printf("%-3s  %-44s  %-44s%n", "#", "HTTP (" + args[0] + ")", "in-process PMML (JPMML)");
        for (int i = 0; i < records.size(); i++) {{
            System.out.printf("%-3d  %-44s  %-44s%n", i, show(http.predict(records.get(i))),
                    show(pmml.predict(records.get(i))));
        }}
        {model}Scorer down = {model}Scorer.http(URI.create(args[2])).withFallback(Duration.ofMillis(100), {default});
        long t0 = System.nanoTime();
        {model}Result r = down.predict(records.get(0));
        System.out.printf("service down -> withFallback(100 ms) answered the default (%s) in %.0f ms; fallbacks: %d%n",
                show(r), (System.nanoTime() - t0) / 1e6, down.fallbackStats().fallbacks());
    }}
}}
"""


def run(bundle_dir: str | os.PathLike[str], service_url: str) -> str:
    """Generate, compile and run the demo program for ``bundle_dir`` against ``service_url``; return its output."""
    from scoring_service.testing import free_port

    bundle = Bundle.load(bundle_dir)
    with tempfile.TemporaryDirectory(prefix="scorebridge-java-demo-") as tmp:
        src, classes = Path(tmp) / "src", Path(tmp) / "classes"
        client = generate(bundle.path, PACKAGE, src)
        source = program_source(client, bundle, _sample_records(bundle))
        (src / "ScoringDemo.java").write_text(source)
        cp = toolchain.runtime_classpath()
        toolchain.compile_java(sorted(src.rglob("*.java")), cp, classes)
        dead = f"http://127.0.0.1:{free_port()}"
        res = toolchain.run_java("ScoringDemo", [classes, *cp],
                                 [service_url, str(bundle.artifact_path("pmml")), dead], timeout=300)
    if res.returncode != 0:
        raise toolchain.JavaToolchainError("the Java demo failed: " + (res.stderr.strip().splitlines() or ["?"])[-1])
    first = source.split("List.of(\n", 1)[1].split(",\n", 1)[0].split(");", 1)[0]
    header = (f"generated {client.model_class}Input/Result/Scorer in package {PACKAGE}, compiled with javac; "
              f"ScoringDemo builds its records with the typed builder, e.g.\n{first}\n\n")
    return header + res.stdout.rstrip()
