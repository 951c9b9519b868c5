"""Time to export and verify a 500-tree XGBoost pipeline (credit-risk style), per phase.

    python benchmarks/export_bench.py [--trees 500] [--repeat 1]

Phases: training (not part of the export, shown for scale), the whole ``export_bundle`` call, and
inside it PMML conversion (sklearn2pmml, a JVM subprocess), ONNX conversion (skl2onnx +
onnxmltools) and fidelity (scoring the verification set with JPMML, ONNX Runtime and pypmml and
comparing with the native pipeline). The phases are timed by wrapping the exporter's own functions,
so the figures are those of a real export.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import exporters  # noqa: E402
from exporters import onnx as onnx_export  # noqa: E402
from exporters import pmml as pmml_export  # noqa: E402

PHASES: dict[str, list[float]] = defaultdict(list)


def _timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[phase].append(time.perf_counter() - start)

    return wrapper


def main(argv: list[str] | None = None) -> int:
    """Train, export and verify; print per-phase times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="exports to time (the first one starts the JVM)")
    args = parser.parse_args(argv)

    from sample_models import credit_risk

    start = time.perf_counter()
    frame, target = credit_risk.make_data()
    pipeline = credit_risk.build_pipeline(args.trees).fit(frame, target)
    train_s = time.perf_counter() - start

    pmml_export.convert = _timed("PMML conversion (sklearn2pmml)", pmml_export.convert)
    onnx_export.convert = _timed("ONNX conversion (skl2onnx)", onnx_export.convert)
    exporters.measure = _timed("fidelity (JPMML + ORT + pypmml)", exporters.measure)
    totals = []
    with tempfile.TemporaryDirectory() as repo:
        for _ in range(args.repeat):
            start = time.perf_counter()
            bundle = exporters.export_bundle(pipeline, frame, name="credit_bench", repo=repo,
                                             target=credit_risk.TARGET)
            totals.append(time.perf_counter() - start)
        fidelity = bundle.manifest["fidelity"]
        sizes = {k: v["size"] for k, v in bundle.manifest["artifacts"].items()}

    print(f"XGBoost credit-risk pipeline: {args.trees} trees, depth 6, {len(frame)} training rows, "
          f"{fidelity['onnx']['rows']} verification rows")
    print(f"{'phase':<34} " + " ".join(f"{'run ' + str(i + 1):>8}" for i in range(args.repeat)))
    print(f"{'(training, not part of export)':<34} {train_s:>8.2f}")
    for phase, times in PHASES.items():
        print(f"{phase:<34} " + " ".join(f"{t:>8.2f}" for t in times))
    print(f"{'export + verify total':<34} " + " ".join(f"{t:>8.2f}" for t in totals))
    print("artifact sizes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    for name, rep in fidelity.items():
        print(f"fidelity {name}: max_abs_diff {rep.get('max_abs_diff', float('nan')):.3g}, "
              f"labels {rep.get('label_agreement', float('nan')):.2%}, passed {rep.get('passed')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
