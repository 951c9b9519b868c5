"""Time to export and verify a 500-tree XGBoost pipeline (credit-risk style), per phase.

    python benchmarks/export_bench.py [--trees 500] [--repeat 1]
    python benchmarks/export_bench.py --compare /work/main [--rounds 3]    # this checkout vs another

Phases: training (not part of the export, shown for scale), the whole ``export_bundle`` call, and
inside it PMML conversion (sklearn2pmml, a JVM subprocess), ONNX conversion (skl2onnx +
onnxmltools), the XGBoost fast path's conversion, and fidelity (scoring the verification set with
JPMML, ONNX Runtime, the fast path and pypmml and comparing with the native pipeline). The phases are
timed by wrapping the exporter's own functions, so the figures are those of a real export. Besides
wall time, the export's CPU time is measured (this process's threads, the in-process JVM included,
plus the sklearn2pmml JVM it waits for): on a shared machine CPU time drifts less than wall time.

``--compare DIR`` runs the same export from this checkout and from ``DIR`` (another checkout of
scorebridge, e.g. the main branch) in fresh processes, alternating which goes first each round, and
prints both with their ratio; ``--tree DIR`` runs one export from ``DIR``'s code.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES: dict[str, list[float]] = defaultdict(list)
# (module, function, phase label): wrapped where the checkout has them (older trees lack some)
_TIMED = (("exporters.pmml", "convert", "PMML conversion (sklearn2pmml)"),
          ("exporters.onnx", "convert", "ONNX conversion (skl2onnx)"),
          ("exporters.onnx", "convert_xgboost_fast_path", "fast-path conversion"),
          ("exporters", "measure", "fidelity (JPMML + ORT + fast path + pypmml)"))


def _timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[phase].append(time.perf_counter() - start)

    return wrapper


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of the children it waited for."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def run(trees: int, repeat: int, tree: Path) -> dict[str, Any]:
    """Train, export and verify from the checkout ``tree``; the timings."""
    sys.path.insert(0, str(tree))
    import importlib

    import exporters
    from sample_models import credit_risk

    for module, name, phase in _TIMED:
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            setattr(mod, name, _timed(phase, getattr(mod, name)))
    start = time.perf_counter()
    frame, target = credit_risk.make_data()
    pipeline = credit_risk.build_pipeline(trees).fit(frame, target)
    train_s = time.perf_counter() - start
    totals, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as repo:
        for _ in range(repeat):
            start, cpu = time.perf_counter(), _cpu()
            bundle = exporters.export_bundle(pipeline, frame, name="credit_bench", repo=repo,
                                             target=credit_risk.TARGET)
            totals.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
        manifest = bundle.manifest
    return {"tree": str(tree), "trees": trees, "rows": len(frame), "train_s": train_s, "wall_s": totals,
            "cpu_s": cpus, "phases": dict(PHASES), "fidelity": manifest["fidelity"],
            "sizes": {k: v["size"] for k, v in manifest["artifacts"].items()}}


def show(result: dict[str, Any]) -> None:
    fidelity = result["fidelity"]
    rows = next(iter(fidelity.values())).get("rows")
    print(f"XGBoost credit-risk pipeline: {result['trees']} trees, depth 6, {result['rows']} training rows, "
          f"{rows} verification rows ({result['tree']})")
    runs = len(result["wall_s"])
    print(f"{'phase':<44} " + " ".join(f"{'run ' + str(i + 1):>8}" for i in range(runs)))
    print(f"{'(training, not part of export)':<44} {result['train_s']:>8.2f}")
    for phase, times in result["phases"].items():
        print(f"{phase:<44} " + " ".join(f"{t:>8.2f}" for t in times))
    print(f"{'export + verify total (wall s)':<44} " + " ".join(f"{t:>8.2f}" for t in result["wall_s"]))
    print(f"{'export + verify total (CPU s)':<44} " + " ".join(f"{t:>8.2f}" for t in result["cpu_s"]))
    print("artifact sizes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in result["sizes"].items()))
    for name, rep in fidelity.items():
        print(f"fidelity {name}: max_abs_diff {rep.get('max_abs_diff', float('nan')):.3g}, "
              f"labels {rep.get('label_agreement', float('nan')):.2%}, passed {rep.get('passed')}")


def compare(other: Path, rounds: int, trees: int) -> int:
    """Alternate fresh-process exports from this checkout and ``other``; print both and the ratio."""
    trees_dirs = {"this": ROOT, "other": other.resolve()}
    results: dict[str, list[dict[str, Any]]] = {"this": [], "other": []}
    for r in range(rounds):
        order = ("other", "this") if r % 2 == 0 else ("this", "other")
        for key in order:
            tree = trees_dirs[key]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            done = subprocess.run([sys.executable, __file__, "--tree", str(tree), "--trees", str(trees), "--json"],
                                  env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[key].append(result)
            print(f"round {r + 1} {key:<5} ({tree}): wall {result['wall_s'][0]:.2f} s, CPU {result['cpu_s'][0]:.2f} s",
                  flush=True)
    print(f"\n{trees}-tree XGBoost export + verify, {rounds} rounds each, fresh process per run (medians)")
    print(f"{'checkout':<40} {'wall s':>8} {'CPU s':>8}")
    med = {}
    for key in ("other", "this"):
        wall = statistics.median(r["wall_s"][0] for r in results[key])
        cpu = statistics.median(r["cpu_s"][0] for r in results[key])
        med[key] = (wall, cpu)
        print(f"{str(trees_dirs[key]):<40} {wall:>8.2f} {cpu:>8.2f}")
    wall_ratio, cpu_ratio = (med["this"][i] / med["other"][i] for i in (0, 1))
    print(f"{'ratio this / other':<40} {wall_ratio:>8.2f} {cpu_ratio:>8.2f}")
    for key in ("other", "this"):
        phases = defaultdict(list)
        for r in results[key]:
            for phase, times in r["phases"].items():
                phases[phase].append(times[0])
        print(f"{key} phases (median s): " + ", ".join(f"{p} {statistics.median(t):.2f}" for p, t in phases.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Train, export and verify; print per-phase times (or compare two checkouts)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="exports to time (the first one starts the JVM)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the scorebridge checkout whose code runs")
    parser.add_argument("--compare", type=Path, metavar="DIR", help="compare this checkout with the one in DIR")
    parser.add_argument("--rounds", type=int, default=3, help="--compare: runs per checkout (default 3)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args.compare, args.rounds, args.trees)
    result = run(args.trees, args.repeat, args.tree.resolve())
    if args.json:
        print(json.dumps(result, default=str))
    else:
        show(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
