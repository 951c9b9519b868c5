"""Batch benchmark: local engine and Spark engine end to end vs native XGBoost ``inplace_predict``.

One run over a generated partition of the credit-risk sample's inputs (10,000,000 rows by default):

- **floor**: native XGBoost ``inplace_predict`` on the same rows already in memory (model.joblib's
  preprocessing applied beforehand, untimed; only ``inplace_predict`` is timed, nthread = 2);
- **local**: ``run_job`` with the local engine, end to end (bundle load, read, score, write,
  commit), in a child process whose peak RSS is reported;
- **spark**: ``run_job`` with the Spark engine in ``local[2]``, ``io = "arrow"`` (the default: tasks
  read and write their splits with pyarrow), session started beforehand (its start-up time is
  reported separately); then the same with ``io = "dataframe"`` (Spark reads and writes) in a
  fresh session, unless ``--no-dataframe``.

Targets on the 2-core machine: local >= 0.5 x floor with peak RSS < 1 GiB; Spark >= 0.8 x local.

Usage: ``python benchmarks/batch_bench.py [--repo DIR] [--rows 10000000] [--workdir DIR]
[--batch-size N] [--threads 2] [--no-spark] [--no-dataframe] [--repeat N]``. With ``--repeat N`` the
paths alternate N rounds and each reports its fastest run (this machine's speed drifts over minutes);
every round is also listed with its own Spark-to-local ratios (wall clock and CPU per row, both paths
of a ratio timed minutes apart in that round), and their median and range.
``--repo`` defaults to ``$SCOREBRIDGE_BENCH_REPO``, else a fresh build of the credit-risk sample. The
generated partition is cached in ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "credit_risk"
DS = "2026-11-21"
CHUNK = 1_000_000
TARGETS = {"local_vs_floor": 0.5, "spark_vs_local": 0.8, "local_rss_mib": 1024}


def generate(bundle_dir: Path, partition: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` rows resampled from the verification inputs (numeric columns jittered) + ``user_id``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scorebridge.bundle import Bundle

    bundle = Bundle.load(bundle_dir, verify=False)
    base = bundle.read_verification()[bundle.schema.names].reset_index(drop=True)
    numeric = [f.name for f in bundle.schema.fields if f.is_numeric and f.dtype == "float64"]
    rng = np.random.default_rng(seed)
    tmp = partition.with_name(partition.name + ".generating")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        frame = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
        for col in numeric:  # distinct values, so the data does not compress unrealistically well
            frame[col] = frame[col] * rng.uniform(0.98, 1.02, n)
        frame.insert(0, "user_id", np.arange(start, start + n, dtype=np.int64))
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp / f"part-{i:05d}.parquet",
                       row_group_size=256 * 1024)
    (tmp / "_SUCCESS").touch()
    shutil.rmtree(partition, ignore_errors=True)
    os.replace(tmp, partition)


def cpu_seconds() -> float:
    """CPU time of this process and its descendants (the Spark JVM, its Python workers), in seconds.

    Robust to other load on the machine, unlike wall time. Descendants are read from /proc (Linux);
    a reaped child's time is in its parent's cutime/cstime, so nothing is counted twice.
    """
    t = os.times()
    own = t.user + t.system
    if not os.path.isdir("/proc"):
        return own
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    me, total = os.getpid(), own
    for pid in times:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me:
            total += times[pid]
    return total


def child_floor(bundle_dir: Path, partition: Path) -> dict:
    """Time native ``inplace_predict`` on the preprocessed rows in memory (nthread = 2)."""
    import numpy as np
    import pyarrow.dataset as pads

    from scorebridge.bundle import Bundle
    from scorebridge.engines.native import load_pickle

    bundle = Bundle.load(bundle_dir, verify=False)
    pipeline = load_pickle(bundle.artifact_path("native"))
    pre, model = pipeline[:-1], pipeline[-1]
    parts = []
    for batch in pads.dataset(partition).to_batches(columns=bundle.schema.names, batch_size=CHUNK):
        frame = bundle.schema.to_frame(bundle.schema.from_arrow(batch))
        parts.append(np.asarray(pre.transform(frame), dtype=np.float32))
    features = np.ascontiguousarray(np.vstack(parts))
    del parts
    booster = model.get_booster()
    booster.set_param({"nthread": 2})
    booster.inplace_predict(features[:100_000])  # warm-up
    cpu, start = cpu_seconds(), time.perf_counter()
    scores = booster.inplace_predict(features)
    seconds = time.perf_counter() - start
    return {"rows": int(len(scores)), "seconds": seconds, "cpu": cpu_seconds() - cpu}


def child_run(job: Path, spark_master: str | None) -> dict:
    """Time ``run_job`` end to end; report this process's peak RSS."""
    from batch_jobs.runner import run_job
    from batch_jobs.spec import load_job

    spec = load_job(job)
    startup = None
    if spark_master:
        from batch_jobs.spark import get_session

        start = time.perf_counter()
        get_session(spec)
        startup = time.perf_counter() - start
    cpu, start = cpu_seconds(), time.perf_counter()
    result = run_job(spec, DS, tty=False)
    seconds = time.perf_counter() - start
    return {"rows": result.rows, "seconds": seconds, "startup": startup, "cpu": cpu_seconds() - cpu,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "psi": result.record["summary"].get("psi_max")}


def run_child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args[0]} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_bench_job(workdir: Path, bundle_dir: Path, engine: str, batch_size: int, threads: int,
                    runtime: str = "auto", spark_io: str = "arrow") -> Path:
    spark = f'\n[spark]\nmaster = "local[2]"\nio = "{spark_io}"\nmax_records_per_batch = 65536\n' \
            '[spark.conf]\n"spark.ui.showConsoleProgress" = "false"\n"spark.driver.memory" = "2g"\n' \
        if engine == "spark" else ""
    tag = engine if runtime == "auto" else f"{engine}_{runtime}"
    tag += "_dataframe" if engine == "spark" and spark_io == "dataframe" else ""
    job = workdir / f"bench_{tag}.toml"
    job.write_text(f"""name = "bench_{tag}"
model = "{bundle_dir}"
engine = "{engine}"
state_dir = ".state_{tag}"

[input]
path = "features/dt={{ds}}"

[output]
path = "scores_{tag}"
keep_columns = ["user_id"]

[local]
batch_size = {batch_size}
threads = {threads}
runtime = "{runtime}"
trust_pickles = {"true" if runtime == "native" else "false"}
{spark}""")
    return job


def per_row(r: dict) -> tuple[float, float]:
    """Rows per wall-clock second and CPU seconds per row of one timed run."""
    return r["rows"] / r["seconds"], r["cpu"] / r["rows"]


def print_rounds(rounds: list[dict[str, dict]]) -> None:
    """Each round's Spark paths against that round's local run, then the median and range of the ratios.

    A ratio's two runs are minutes apart within one round, so it moves less with the host's drift
    than a ratio of two fastest runs that may come from different rounds.
    """
    labels = {"spark": 'io = "arrow"', "spark_df": 'io = "dataframe"'}
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in labels}
    print("\nrounds: rows/s, and each Spark path's ratio to the local engine of the same round "
          "(wall clock; CPU per row)")
    for i, runs in enumerate(rounds, 1):
        local_rate, local_cpu = per_row(runs["local"])
        cells = [f"local {local_rate:,.0f}"]
        for name, label in labels.items():
            if name in runs:
                rate, cpu = per_row(runs[name])
                ratios[name].append((rate / local_rate, local_cpu / cpu))
                cells.append(f"{label} {rate:,.0f} = {rate / local_rate:.2f} (CPU {local_cpu / cpu:.2f})")
        print(f"  round {i}: " + ", ".join(cells))
    for name, label in labels.items():
        if ratios[name]:
            wall = sorted(w for w, _ in ratios[name])
            cpu = sorted(c for _, c in ratios[name])
            print(f"  {label}: median {statistics.median(wall):.2f} of local (range {wall[0]:.2f}-{wall[-1]:.2f}), "
                  f"CPU median {statistics.median(cpu):.2f} (range {cpu[0]:.2f}-{cpu[-1]:.2f}) over "
                  f"{len(wall)} round(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=os.environ.get("SCOREBRIDGE_BENCH_REPO"),
                        help="model repository holding credit_risk (default: build it)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "scorebridge-batch-bench")
    parser.add_argument("--batch-size", type=int, default=32768, help="local engine record batch (rows)")
    parser.add_argument("--threads", type=int, default=2, help="batches the local engine scores at once")
    parser.add_argument("--native", action="store_true",
                        help="also time the local engine with the native runtime (runs model.joblib)")
    parser.add_argument("--onnx", action="store_true",
                        help="also time the local engine forced to ONNX Runtime (runtime = \"onnx\")")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over the engines, alternating; each path reports its fastest (default 1)")
    parser.add_argument("--no-dataframe", action="store_true", help="skip the Spark run with io = \"dataframe\"")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")

    if args.child:
        kind, *rest = args.child
        result = child_floor(Path(rest[0]), Path(rest[1])) if kind == "floor" else \
            child_run(Path(rest[0]), rest[1] if len(rest) > 1 else None)
        print(json.dumps(result))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    repo = args.repo
    if repo is None:
        from sample_models import build_all

        repo = args.workdir / "models"
        if not (repo / MODEL).is_dir():
            print(f"building the {MODEL} sample into {repo} ...", file=sys.stderr)
            build_all(repo, (MODEL,))
    from scorebridge.bundle import Bundle

    bundle = Bundle.load(Path(repo) / MODEL)
    partition = args.workdir / "features" / f"dt={DS}"
    stamp = partition / "_BENCH.json"
    key = {"rows": args.rows, "model": bundle.manifest["artifacts"]["onnx"]["sha256"]}
    if not stamp.exists() or json.loads(stamp.read_text()) != key:
        print(f"generating {args.rows:,} rows into {partition} ...", file=sys.stderr)
        start = time.perf_counter()
        generate(bundle.path, partition, args.rows)
        stamp.write_text(json.dumps(key))
        print(f"  {time.perf_counter() - start:.1f}s", file=sys.stderr)

    print("timing native inplace_predict (floor) ...", file=sys.stderr)
    floor = run_child("floor", str(bundle.path), str(partition))
    def timed(label: str, *child: str) -> dict:
        print(f"timing {label} ...", file=sys.stderr)
        return run_child(*child)

    def job(engine: str, runtime: str = "auto", spark_io: str = "arrow") -> str:
        return str(write_bench_job(args.workdir, bundle.path, engine, args.batch_size, args.threads, runtime,
                                   spark_io))

    # the paths alternate, args.repeat rounds, each keeping its fastest run: this machine's speed drifts
    # over minutes, and alternating gives every path the same chances at its faster phases
    best: dict[str, dict] = {}
    rounds: list[dict[str, dict]] = []
    for round_ in range(args.repeat):
        tag = f" (round {round_ + 1} of {args.repeat})" if args.repeat > 1 else ""
        runs = {"local": timed("the local engine" + tag, "run", job("local"))}
        if args.onnx:
            runs["onnx"] = timed("the local engine, ONNX Runtime" + tag, "run", job("local", "onnx"))
        if args.native:
            runs["native"] = timed("the local engine, native runtime" + tag, "run", job("local", "native"))
        if not args.no_spark:
            runs["spark"] = timed('the Spark engine (local[2], io = "arrow")' + tag, "run", job("spark"), "local[2]")
            if not args.no_dataframe:
                runs["spark_df"] = timed('the Spark engine (local[2], io = "dataframe")' + tag, "run",
                                         job("spark", spark_io="dataframe"), "local[2]")
        rounds.append(runs)
        for name, result in runs.items():
            if name not in best or result["seconds"] < best[name]["seconds"]:
                best[name] = result
    local, onnx, native = best["local"], best.get("onnx"), best.get("native")
    spark, spark_df = best.get("spark"), best.get("spark_df")

    rate = {name: r["rows"] / r["seconds"]
            for name, r in (("floor", floor), ("local", local), ("native", native), ("spark", spark)) if r}
    print(f"\nbatch benchmark: {bundle}, {args.rows:,} rows, {os.cpu_count()} cores, best of {args.repeat} "
          f"alternating round(s), local batches of "
          f"{args.batch_size:,} rows x {args.threads} in parallel, load average {os.getloadavg()[0]:.1f} at the end")
    header = (f"{'path':<50} {'seconds':>8} {'rows/s':>10} {'CPU s/1M':>9}  {'ratio to floor':<18} {'target':<8} "
              f"{'peak RSS':>9}")
    print(header)
    print("-" * len(header))

    def row(label: str, r: dict, ratio: str = "", target: str = "", ok: bool | None = None) -> None:
        cpu = f"{r['cpu'] / r['rows'] * 1e6:.2f}" if r.get("cpu") is not None else "-"
        rss = f"{r['peak_rss_mib']:.0f} MiB" if r.get("peak_rss_mib") and "spark" not in label else ""
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<50} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>10,.0f} {cpu:>9}  {ratio:<18} "
              f"{target:<8} {rss:>9}  {verdict}")

    def capacity(r: dict) -> float:
        """Ratio of CPU cost per row to the floor's: the rows/s ratio on an otherwise idle machine."""
        return (floor["cpu"] / floor["rows"]) / (r["cpu"] / r["rows"])

    row("native XGBoost inplace_predict (floor)", floor, "1.00")
    lr = rate["local"] / rate["floor"]
    row("local engine (auto: XGBoost fast path), end to end", local, f"{lr:.2f} (CPU {capacity(local):.2f})", ">= 0.50",
        lr >= TARGETS["local_vs_floor"] and local["peak_rss_mib"] < TARGETS["local_rss_mib"])
    if onnx:
        row("local engine (ONNX Runtime), end to end", onnx,
            f"{onnx['rows'] / onnx['seconds'] / rate['floor']:.2f} (CPU {capacity(onnx):.2f})")
    if native:
        row("local engine (native runtime), end to end", native,
            f"{rate['native'] / rate['floor']:.2f} (CPU {capacity(native):.2f})")
    if spark:
        sr = rate["spark"] / rate["local"]
        row("spark engine local[2], io=arrow, end to end", spark, f"{sr:.2f} of local", ">= 0.80",
            sr >= TARGETS["spark_vs_local"])
    if spark_df:
        row("spark engine local[2], io=dataframe, end to end", spark_df,
            f"{spark_df['rows'] / spark_df['seconds'] / rate['local']:.2f} of local")
    if spark:
        startups = ", ".join(f"{r['startup']:.1f}s" for r in (spark, spark_df) if r)
        print(f"(Spark session start-up, excluded above: {startups})")
    if spark:
        print_rounds(rounds)
    print(f"peak RSS target for the local engine: < {TARGETS['local_rss_mib']} MiB. CPU s/1M: CPU seconds per "
          "million rows of the process and its children (Spark's JVM and Python workers); (CPU x.xx) = floor CPU "
          "per row / this path's, i.e. the rows/s ratio on an idle machine (wall-clock ratios move with other "
          "load on the cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
