"""Build and run the Java benchmark (benchmarks/java_bench): in-process µs/record per sample model, plain
JPMML and transpiled, and the HTTP client's single-record p50/p99 against a local scoring service.

    python benchmarks/java_bench.py                       # builds the sample models into a temp dir
    python benchmarks/java_bench.py --repo /path/models   # an existing model repository
    python benchmarks/java_bench.py --models credit_risk --no-http

Reference: plain JPMML-Evaluator measured ~76 µs/record for the 200-tree credit-risk pipeline (BRIEF.md);
the target for the in-process client is 20 µs or less.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scorebridge.bundle import Bundle, list_models  # noqa: E402
from scorebridge.java import toolchain  # noqa: E402
from scorebridge.java.records import verification_inputs, write_jsonl  # noqa: E402

BASELINE_US = 76.0
TARGET_US = 20.0


def _run(classpath: list[Path], *args: str, timeout: float) -> dict:
    res = toolchain.run_java("JavaBench", classpath, list(args), timeout=timeout, jvm_args=("-Xms512m",))
    if res.returncode != 0:
        raise SystemExit(f"JavaBench {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON lines with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, help="model repository (default: build the samples into a temp dir)")
    p.add_argument("--models", nargs="*", help="model names (default: all in the repo)")
    p.add_argument("--modes", nargs="*", default=["plain", "transpiled"], choices=["plain", "transpiled"])
    p.add_argument("--warmup", type=float, default=20.0, help="warm-up seconds per in-process run (default 20)")
    p.add_argument("--rounds", type=int, default=5, help="measured rounds per in-process run (default 5)")
    p.add_argument("--round-seconds", type=float, default=3.0, help="seconds per round (default 3)")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP client benchmark")
    p.add_argument("--service-url", help="use this running service instead of starting one")
    p.add_argument("--http-calls", type=int, default=2000, help="measured HTTP calls (default 2000)")
    p.add_argument("--json", action="store_true", help="also print each result as a JSON line")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="java-bench-") as tmp:
        work = Path(tmp)
        repo = args.repo
        if repo is None:
            from sample_models import build_all

            repo = work / "models"
            print(f"building the sample models into {repo} ...", file=sys.stderr)
            build_all(repo)
        names = args.models or sorted(list_models(repo))
        cp = toolchain.runtime_classpath()
        classes = work / "classes"
        toolchain.compile_java(sorted((ROOT / "benchmarks" / "java_bench" / "src").glob("*.java")), cp, classes)
        cp = [classes, *cp]

        results = []
        bundles = {n: Bundle.load(repo / n) for n in names}
        rows = {n: write_jsonl(verification_inputs(b), work / f"{n}.jsonl") for n, b in bundles.items()}
        for name, bundle in bundles.items():
            for mode in args.modes:
                print(f"in-process {name} {mode} ...", file=sys.stderr)
                results.append(_run(cp, "inproc", str(bundle.path), str(rows[name]), mode, str(args.warmup),
                                    str(args.rounds), str(args.round_seconds), timeout=900))
        if not args.no_http:
            from contextlib import nullcontext

            from scoring_service.testing import running_service

            ctx = nullcontext(args.service_url) if args.service_url else running_service(repo, engine="onnx")
            with ctx as url:
                for name in names:
                    print(f"HTTP {name} against {url} ...", file=sys.stderr)
                    results.append(_run(cp, "http", url, name, str(rows[name]), "300", str(args.http_calls),
                                        timeout=900))

    print(f"\n{'model':24} {'path':18} {'µs/record (median)':>19} {'best':>8} {'load s':>7}   vs 76 µs baseline")
    for r in results:
        if r["mode"] == "http":
            continue
        print(f"{r['model']:24} {r['mode']:18} {r['us_per_record_median']:19.2f} {r['us_per_record_best']:8.2f} "
              f"{r['load_s']:7.2f}   {BASELINE_US / r['us_per_record_median']:.1f}x faster")
    http = [r for r in results if r["mode"] == "http"]
    if http:
        print(f"\n{'model':24} {'HTTP single record':18} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'calls/s':>8}")
        for r in http:
            print(f"{r['model']:24} {'ScoringClient':18} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['mean_ms']:8.3f} "
                  f"{r['calls_per_s']:8.1f}")
    if args.json:
        for r in results:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
