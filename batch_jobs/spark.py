"""The Spark engine: the same job on PySpark (``pip install 'scorebridge[spark]'``).

Two ways to move the data, chosen by ``[spark] io``:

- ``"arrow"`` (default): the driver cuts the input partition into splits (whole Parquet row groups,
  or CSV files; see :mod:`batch_jobs.splits`) and runs one Spark task per split through
  ``mapInArrow``. A task reads its split with pyarrow, scores it with the Python worker's engine and
  writes its own Parquet file into the run's staging directory (a temporary name renamed into place,
  so a retried or speculative attempt replaces its file, never adds one), then returns its row count
  and a partial score summary. The JVM only schedules: on a small cluster this is ~1.5x the speed of
  the ``"dataframe"`` path, whose JVM converts every row to Arrow and back.
- ``"dataframe"``: Spark reads the input, scores it with ``mapInArrow`` and writes Parquet itself.

Either way the run then publishes the staging directory with the same ``_SUCCESS`` and
``_RUN.json`` as the local engine (Spark's own ``_SUCCESS`` is replaced, so ours is written last).
With ``output.hive_table`` the published partition is also loaded with
``INSERT OVERWRITE TABLE ... PARTITION (dt='<ds>')`` through ``enableHiveSupport()``.

``spark.master`` comes from ``[spark] master``, else ``$SPARK_MASTER``, else whatever
``spark-submit`` set (``local[*]`` when run from plain Python). Paths must be visible to the driver
and the executors alike (local mode, or a shared mount); the bundle is shipped with ``addFile``
when the master is not local. Each Python worker loads the engine once (``auto``: the XGBoost fast
path where it has XGBoost, else ONNX Runtime) and keeps it for the tasks that follow.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from batch_jobs.context import RunContext
from batch_jobs.errors import BatchError, JobCancelledError
from batch_jobs.local import open_input
from batch_jobs.scoring import input_columns, label_type, output_schema, score_batch
from batch_jobs.spec import PARTITION_KEY, InputSpec, JobSpec
from batch_jobs.splits import Split, plan_splits, read_split
from batch_jobs.summary import ScoreSummary
from scorebridge.bundle import MANIFEST, Bundle

_ENGINES: dict[str, tuple[Bundle, Any]] = {}  # per Python worker: bundle dir -> (bundle, ORT engine)
_ERROR_LINE = re.compile(r"(?:scorebridge|batch_jobs)\.[\w.]*Error: (.*)")


def get_session(spec: JobSpec) -> Any:
    """The active SparkSession, or a new one configured from the job (master, conf, Hive)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise BatchError("engine = \"spark\" needs PySpark: pip install 'scorebridge[spark]'") from exc
    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName(f"scorebridge-{spec.name}")
        master = spec.spark.master or os.environ.get("SPARK_MASTER")
        if master:
            builder = builder.master(master)
        for key, value in spec.spark.conf.items():
            builder = builder.config(key, value)
        if spec.output.hive_table:
            builder = builder.enableHiveSupport()
        session = builder.getOrCreate()
    if spec.output.hive_table and session.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
        raise BatchError("output.hive_table needs a SparkSession with Hive support, but the active session "
                         "was created without enableHiveSupport()")
    return session


def _engine_for(bundle_dir: str) -> tuple[Bundle, Any]:
    """Load the bundle's engine once per Python worker process."""
    if bundle_dir not in _ENGINES:
        from scorebridge.engines import load_engine

        bundle = Bundle.load(bundle_dir, verify=False)
        # "auto": the XGBoost fast path when this worker has XGBoost, else ONNX Runtime, else JPMML
        _ENGINES[bundle_dir] = (bundle, load_engine(bundle, "auto", threads=1))
    return _ENGINES[bundle_dir]


def _worker_bundle(bundle_ref: str, shipped: bool) -> str:
    """The bundle directory on this executor: the driver's path in local mode, else the shipped copy."""
    if shipped:
        from pyspark import SparkFiles

        return SparkFiles.get(bundle_ref)
    return bundle_ref


def make_scorer(bundle_ref: str, shipped: bool, keep: tuple[str, ...], source: str,
                counter: Any) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of ``io = "dataframe"``: scores the rows Spark hands over."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        bundle, engine = _engine_for(_worker_bundle(bundle_ref, shipped))
        schema = None
        for batch in batches:
            if schema is None:
                schema = output_schema(bundle, batch.schema, keep, source)
            out, _ = score_batch(engine, bundle, batch, schema, keep, source)
            counter.add(batch.num_rows)
            yield out

    return score


# -- io = "arrow": one task per split, reading and writing with pyarrow ---------------------------
_TASK_DIR = ".tasks"  # attempts write here first; removed before the partition is published
_RESULT_FIELDS = (("split", "int"), ("file", "string"), ("rows", "long"), ("summary", "binary"))


@dataclass(frozen=True)
class SplitPlan:
    """Everything a task needs to score its split (pickled into the task closure)."""

    bundle_ref: str
    shipped: bool
    splits: tuple[Split, ...]
    input: InputSpec
    source: str
    keep: tuple[str, ...]
    columns: tuple[str, ...]
    schema: pa.Schema
    stage: str
    batch_size: int
    summary: ScoreSummary  # empty, with the PSI reference: each task fills a partial copy


def score_split(plan: SplitPlan, split: Split, bundle: Bundle, engine: Any) -> dict[str, Any]:
    """Read, score and write one split; returns its result row (file, rows, pickled partial summary)."""
    stage = Path(plan.stage)
    name = f"part-{split.index:05d}.parquet"
    attempt = stage / _TASK_DIR / f"{name}.{uuid.uuid4().hex}"
    summary = plan.summary.partial(seed=split.index)
    rows = 0

    def open_file(path: Path) -> pads.Dataset:
        return open_input(plan.input, path, bundle)

    with pq.ParquetWriter(attempt, plan.schema, compression="snappy") as writer:
        for batch in read_split(split, open_file, list(plan.columns), plan.batch_size):
            if not batch.num_rows:
                continue
            out, outputs = score_batch(engine, bundle, batch, plan.schema, plan.keep, plan.source)
            writer.write_batch(out)
            summary.update(outputs)
            rows += batch.num_rows
    os.replace(attempt, stage / name)  # the last step: a failed attempt leaves only its temporary file
    return {"split": split.index, "file": name, "rows": rows, "summary": pickle.dumps(summary)}


def make_split_scorer(plan: SplitPlan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of ``io = "arrow"``: its input rows are split numbers."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        bundle, engine = _engine_for(_worker_bundle(plan.bundle_ref, plan.shipped))
        for batch in batches:
            for index in batch.column(0).to_pylist():
                row = score_split(plan, plan.splits[index], bundle, engine)
                yield pa.RecordBatch.from_pylist([row], schema=_result_schema())

    return score


def _result_schema() -> pa.Schema:
    types = {"int": pa.int32(), "string": pa.string(), "long": pa.int64(), "binary": pa.binary()}
    return pa.schema([(name, types[kind]) for name, kind in _RESULT_FIELDS])


def _ship_bundle(spark: Any, bundle: Bundle) -> tuple[str, bool]:
    """Where executors find the bundle: its own path in local mode, else a uniquely named shipped copy."""
    if spark.sparkContext.master.startswith("local"):
        return str(bundle.path), False
    from scorebridge.engines import ENGINE_ARTIFACTS, PREFERENCE

    # what the "auto" engine may load on an executor (it picks by what that worker has installed)
    artifacts = bundle.manifest["artifacts"]
    kinds = [k for engine in PREFERENCE["batch"] for k in ENGINE_ARTIFACTS[engine] if k in artifacts]
    scoring = [artifacts[k]["file"] for k in dict.fromkeys(kinds)]
    digest = artifacts[kinds[0]]["sha256"][:12]
    name = f"{bundle.name}-{bundle.version}-{digest}"
    copy = Path(tempfile.mkdtemp(prefix="scorebridge-bundle-")) / name
    copy.mkdir()
    for file in (MANIFEST, *scoring):
        shutil.copy2(bundle.path / file, copy / file)
    spark.sparkContext.addFile(str(copy), recursive=True)
    return name, True


def _spark_type(arrow_type: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if arrow_type == pa.bool_():
        return T.BooleanType()
    if arrow_type == pa.int64():
        return T.LongType()
    if arrow_type == pa.float64():
        return T.DoubleType()
    return T.StringType()


def _balance_splits(spark: Any, ctx: RunContext) -> None:
    """Aim for ~4 input splits per core unless the job sets ``spark.sql.files.maxPartitionBytes``.

    Spark's default (128 MB) packs a few-hundred-MB partition into a handful of unequal tasks; on a
    small cluster the last big task then runs alone while the other cores idle.
    """
    key = "spark.sql.files.maxPartitionBytes"
    if key in ctx.spec.spark.conf or not ctx.input_path.exists():
        return
    files = [ctx.input_path] if ctx.input_path.is_file() else list(ctx.input_path.rglob("*"))
    total = sum(p.stat().st_size for p in files if p.is_file())
    per_split = total // max(4 * spark.sparkContext.defaultParallelism, 1)
    spark.conf.set(key, str(min(max(per_split, 4 << 20), 128 << 20)))


def _read_input(spark: Any, ctx: RunContext) -> Any:
    _balance_splits(spark, ctx)
    reader = spark.read
    if ctx.spec.input.format == "csv":
        reader = reader.option("header", True).option("inferSchema", True).format("csv")
    else:
        reader = reader.format("parquet")
    try:
        return reader.load(str(ctx.input_path))
    except Exception as exc:  # AnalysisException and friends
        raise BatchError(f"cannot read input {ctx.input_path} as {ctx.spec.input.format}: "
                         f"{_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    """The useful line of a Spark/Py4J error: our own error's message when a task raised one."""
    text = str(exc)
    found = _ERROR_LINE.findall(text)
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _run_job_group(ctx: RunContext, sc: Any, action: Callable[[], Any]) -> Any:
    """Run the Spark ``action`` under a job group that a shutdown (``ctx.cancel``) cancels."""
    group = f"scorebridge-{ctx.spec.name}-{ctx.ds}-{os.getpid()}-{threading.get_ident()}"
    done = threading.Event()

    def watch() -> None:  # a shutdown cancels the Spark job; nothing is committed
        while not done.wait(0.2):
            if ctx.cancel.is_set():
                sc.cancelJobGroup(group)
                return

    sc.setJobGroup(group, f"{ctx.spec.name} dt={ctx.ds}", interruptOnCancel=True)
    watcher = threading.Thread(target=watch, name="spark-cancel-watch", daemon=True)
    watcher.start()
    try:
        return action()
    except Exception as exc:
        if ctx.cancel.is_set():
            raise JobCancelledError("run cancelled before it committed; nothing was published") from None
        raise BatchError(f"Spark job failed for {ctx.input_path}: {_first_line(exc)}") from None
    finally:
        done.set()
        watcher.join()
        sc.setLocalProperty("spark.jobGroup.id", None)


def run_spark(ctx: RunContext) -> dict[str, Any]:
    """Score ``ctx.input_path`` on Spark into ``ctx.stage``; returns rows, files and engine details."""
    from scorebridge.engines import ENGINE_ARTIFACTS, choose_engine

    bundle = ctx.bundle
    # on the driver, once: a tampered model fails before any task runs (tasks verify what they load too)
    for kind in ENGINE_ARTIFACTS[choose_engine(bundle, "batch")]:
        bundle.verify_artifact(kind)
    spark = get_session(ctx.spec)
    run = _run_arrow if ctx.spec.spark.io == "arrow" else _run_dataframe
    result = run(ctx, spark)
    sc = spark.sparkContext
    result["scoring"] = (f"spark {spark.version} ({sc.master}), io = \"{ctx.spec.spark.io}\", "
                         f"{result.pop('tasks')}, one engine per Python worker (auto), "
                         f"batches of {ctx.spec.spark.max_records_per_batch:,} rows")
    return result


def _check_inputs(ctx: RunContext, names: list[str]) -> list[str]:
    """The columns to read; raises the local engine's messages for absent ones."""
    keep = ctx.spec.output.keep_columns
    columns = input_columns(ctx.bundle, keep)
    missing = [c for c in columns if c not in names]
    if missing:
        if any(c in keep for c in missing):
            output_schema(ctx.bundle, pa.schema([]), keep, str(ctx.input_path))  # the keep_columns error
        raise BatchError(f"input {ctx.input_path} lacks column(s) {', '.join(map(repr, missing))} the model needs")
    return columns


def _run_arrow(ctx: RunContext, spark: Any) -> dict[str, Any]:
    spec, bundle = ctx.spec, ctx.bundle
    sc = spark.sparkContext
    source = str(ctx.input_path)
    dataset = open_input(spec.input, ctx.input_path, bundle)
    schema = output_schema(bundle, dataset.schema, spec.output.keep_columns, source)
    columns = _check_inputs(ctx, dataset.schema.names)
    splits = plan_splits(dataset, spec.input.format, sc.defaultParallelism)
    bundle_ref, shipped = _ship_bundle(spark, bundle)
    (ctx.stage / _TASK_DIR).mkdir()
    plan = SplitPlan(bundle_ref=bundle_ref, shipped=shipped, splits=tuple(splits), input=spec.input, source=source,
                     keep=spec.output.keep_columns, columns=tuple(columns), schema=schema, stage=str(ctx.stage),
                     batch_size=spec.spark.max_records_per_batch, summary=ctx.summary.partial(seed=0))
    results = []
    if splits:
        result_type = ", ".join(f"{name} {kind}" for name, kind in _RESULT_FIELDS)
        tasks = spark.range(0, len(splits), 1, len(splits)).mapInArrow(make_split_scorer(plan), result_type)
        results = _run_job_group(ctx, sc, tasks.collect)
    shutil.rmtree(ctx.stage / _TASK_DIR)  # temporary files of failed or superseded attempts
    by_split = {r["split"]: r for r in results}
    if sorted(by_split) != list(range(len(splits))):
        raise BatchError(f"Spark returned results for {len(by_split)} of {len(splits)} splits; nothing was published")
    for index in sorted(by_split):
        ctx.summary.merge(pickle.loads(by_split[index]["summary"]))  # our own tasks' output
    files = [by_split[i]["file"] for i in sorted(by_split)]
    if not files:  # an empty partition still gets a readable file with the schema
        pq.write_table(schema.empty_table(), ctx.stage / "part-00000.parquet")
        files = ["part-00000.parquet"]
    rows = sum(r["rows"] for r in results)
    return {"rows_in": rows, "rows_out": rows, "files": files,
            "tasks": f"{len(splits)} tasks reading and writing with pyarrow"}


def _run_dataframe(ctx: RunContext, spark: Any) -> dict[str, Any]:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spec, bundle = ctx.spec, ctx.bundle
    sc = spark.sparkContext
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.spark.max_records_per_batch))
    source = str(ctx.input_path)
    keep = spec.output.keep_columns
    df = _read_input(spark, ctx)
    columns = _check_inputs(ctx, df.columns)
    numeric = {f.name for f in bundle.schema.fields if f.is_numeric}
    df = df.select(*[F.col(c).cast("double") if c in numeric and c not in keep else F.col(c) for c in columns])

    fields = [df.schema[c] for c in keep]
    for name in bundle.output_columns:
        typ = label_type(bundle.classes) if name == "label" else pa.float64()
        fields.append(T.StructField(name, _spark_type(typ), True))
    bundle_ref, shipped = _ship_bundle(spark, bundle)
    counter = sc.accumulator(0)
    scored = df.mapInArrow(make_scorer(bundle_ref, shipped, keep, source, counter), T.StructType(fields))
    _run_job_group(ctx, sc, lambda: scored.write.mode("overwrite").parquet(str(ctx.stage)))

    for stray in ("_SUCCESS", "._SUCCESS.crc"):  # ours is written at commit; a stale checksum would break reads
        (ctx.stage / stray).unlink(missing_ok=True)
    files = sorted(p.name for p in ctx.stage.iterdir() if p.suffix == ".parquet")
    written = pads.dataset([str(ctx.stage / f) for f in files], format="parquet")
    for batch in written.to_batches(columns=ctx.summary.columns + (["label"] if "label" in bundle.output_columns
                                                                   else [])):
        ctx.summary.update({name: batch.column(name).to_numpy(zero_copy_only=False)
                            for name in batch.schema.names})
    return {"rows_in": int(counter.value), "rows_out": written.count_rows(), "files": files,
            "tasks": f"{df.rdd.getNumPartitions()} tasks, Spark reads and writes"}


def after_commit(ctx: RunContext, partition: Path) -> None:
    """With ``output.hive_table``: ``INSERT OVERWRITE`` the published partition into the Hive table."""
    table = ctx.spec.output.hive_table
    if not table:
        return
    spark = get_session(ctx.spec)
    df = spark.read.parquet(str(partition))
    cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in df.schema.fields)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} ({cols}) PARTITIONED BY ({PARTITION_KEY} STRING) "
              "STORED AS PARQUET")
    view = f"scorebridge_{ctx.spec.name}_{ctx.ds.replace('-', '')}"
    df.createOrReplaceTempView(view)
    try:
        spark.sql(f"INSERT OVERWRITE TABLE {table} PARTITION ({PARTITION_KEY}='{ctx.ds}') "
                  f"SELECT {', '.join(f'`{c}`' for c in df.columns)} FROM {view}")
    except Exception as exc:
        raise BatchError(f"INSERT OVERWRITE into Hive table {table} failed: {_first_line(exc)}") from None
    finally:
        spark.catalog.dropTempView(view)
