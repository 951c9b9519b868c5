"""The Spark engine: the same job on PySpark (``pip install 'scorebridge[spark]'``).

Spark reads the input partition, scores it with ``mapInArrow`` (one ONNX Runtime session per task,
kept for the tasks that follow in the same Python worker) and writes Parquet into the run's hidden
staging directory; the run then publishes it with the same ``_SUCCESS`` and ``_RUN.json`` as the
local engine (Spark's own ``_SUCCESS`` is replaced, so ours is written last). With
``output.hive_table`` the published partition is also loaded with
``INSERT OVERWRITE TABLE ... PARTITION (dt='<ds>')`` through ``enableHiveSupport()``.

``spark.master`` comes from ``[spark] master``, else ``$SPARK_MASTER``, else whatever
``spark-submit`` set (``local[*]`` when run from plain Python). Paths must be visible to the driver
and the executors alike (local mode, or a shared mount); the bundle is shipped with ``addFile``
when the master is not local.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from batch_jobs.context import RunContext
from batch_jobs.errors import BatchError, JobCancelledError
from batch_jobs.scoring import input_columns, label_type, output_schema, score_batch
from batch_jobs.spec import PARTITION_KEY, JobSpec
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
        # "auto": the XGBoost fast path when this worker has XGBoost, else ONNX Runtime
        _ENGINES[bundle_dir] = (bundle, load_engine(bundle, "auto", threads=1))
    return _ENGINES[bundle_dir]


def make_scorer(bundle_ref: str, shipped: bool, keep: tuple[str, ...], source: str,
                counter: Any) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: scores one task's batches with one ONNX Runtime session."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if shipped:
            from pyspark import SparkFiles

            bundle_dir = SparkFiles.get(bundle_ref)
        else:
            bundle_dir = bundle_ref
        bundle, engine = _engine_for(bundle_dir)
        schema = None
        for batch in batches:
            if schema is None:
                schema = output_schema(bundle, batch.schema, keep, source)
            out, _ = score_batch(engine, bundle, batch, schema, keep, source)
            counter.add(batch.num_rows)
            yield out

    return score


def _ship_bundle(spark: Any, bundle: Bundle) -> tuple[str, bool]:
    """Where executors find the bundle: its own path in local mode, else a uniquely named shipped copy."""
    if spark.sparkContext.master.startswith("local"):
        return str(bundle.path), False
    digest = bundle.manifest["artifacts"]["onnx"]["sha256"][:12]
    name = f"{bundle.name}-{bundle.version}-{digest}"
    copy = Path(tempfile.mkdtemp(prefix="scorebridge-bundle-")) / name
    copy.mkdir()
    # what the "auto" engine may load on an executor: the ONNX model and the XGBoost fast path
    scoring = [a["file"] for k, a in bundle.manifest["artifacts"].items()
               if k in ("onnx", "xgboost_preprocess", "xgboost_booster")]
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


def run_spark(ctx: RunContext) -> dict[str, Any]:
    """Score ``ctx.input_path`` on Spark into ``ctx.stage``; returns rows, files and engine details."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spec, bundle = ctx.spec, ctx.bundle
    bundle.verify_artifact("onnx")  # on the driver, once: a tampered model fails before any task runs
    spark = get_session(spec)
    sc = spark.sparkContext
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.spark.max_records_per_batch))
    source = str(ctx.input_path)
    keep = spec.output.keep_columns
    df = _read_input(spark, ctx)
    columns = input_columns(bundle, keep)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        if any(c in keep for c in missing):
            output_schema(bundle, pa.schema([]), keep, source)  # raises the keep_columns error
        raise BatchError(f"input {source} lacks column(s) {', '.join(map(repr, missing))} the model needs")
    numeric = {f.name for f in bundle.schema.fields if f.is_numeric}
    df = df.select(*[F.col(c).cast("double") if c in numeric and c not in keep else F.col(c) for c in columns])

    fields = [df.schema[c] for c in keep]
    for name in bundle.output_columns:
        typ = label_type(bundle.classes) if name == "label" else pa.float64()
        fields.append(T.StructField(name, _spark_type(typ), True))
    bundle_ref, shipped = _ship_bundle(spark, bundle)
    counter = sc.accumulator(0)
    scored = df.mapInArrow(make_scorer(bundle_ref, shipped, keep, source, counter), T.StructType(fields))

    group = f"scorebridge-{spec.name}-{ctx.ds}-{os.getpid()}-{threading.get_ident()}"
    done = threading.Event()

    def watch() -> None:  # a shutdown cancels the Spark job; nothing is committed
        while not done.wait(0.2):
            if ctx.cancel.is_set():
                sc.cancelJobGroup(group)
                return

    sc.setJobGroup(group, f"{spec.name} dt={ctx.ds}", interruptOnCancel=True)
    watcher = threading.Thread(target=watch, name="spark-cancel-watch", daemon=True)
    watcher.start()
    try:
        scored.write.mode("overwrite").parquet(str(ctx.stage))
    except Exception as exc:
        if ctx.cancel.is_set():
            raise JobCancelledError("run cancelled before it committed; nothing was published") from None
        raise BatchError(f"Spark job failed for {source}: {_first_line(exc)}") from None
    finally:
        done.set()
        watcher.join()
        sc.setLocalProperty("spark.jobGroup.id", None)

    for stray in ("_SUCCESS", "._SUCCESS.crc"):  # ours is written at commit; a stale checksum would break reads
        (ctx.stage / stray).unlink(missing_ok=True)
    files = sorted(p.name for p in ctx.stage.iterdir() if p.suffix == ".parquet")
    written = pads.dataset([str(ctx.stage / f) for f in files], format="parquet")
    for batch in written.to_batches(columns=ctx.summary.columns + (["label"] if "label" in bundle.output_columns
                                                                   else [])):
        ctx.summary.update({name: batch.column(name).to_numpy(zero_copy_only=False)
                            for name in batch.schema.names})
    rows_out = written.count_rows()
    return {"rows_in": int(counter.value), "rows_out": rows_out, "files": files,
            "scoring": f"spark {spark.version} ({sc.master}), one engine per task (auto), "
                       f"Arrow batches of {spec.spark.max_records_per_batch:,} rows"}


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
