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
With ``output.hive_table``, loading the Hive table is part of that commit (:func:`register_hive`,
between sealing and publishing): ``INSERT OVERWRITE TABLE ... PARTITION (dt='<ds>')`` from the
sealed staging directory, or, for an external table whose location is the output path, adding the
partition. If it fails, nothing is published and the table is as it was. The database is checked
before scoring starts, so a missing one fails at once.

``spark.master`` comes from ``[spark] master``, else ``$SPARK_MASTER``, else whatever
``spark-submit`` set (``local[*]`` when run from plain Python). Paths must be visible to the driver
and the executors alike (local mode, or a shared mount); the bundle is shipped with ``addFile``
when the master is not local. Each Python worker loads the engine once (``auto``: the XGBoost fast
path where it has XGBoost, else ONNX Runtime) and keeps it for the tasks that follow.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from batch_jobs.context import RunContext
from batch_jobs.errors import BatchError, HiveError, JobCancelledError
from batch_jobs.failures import one_line, unwritable_output
from batch_jobs.local import check_files, open_input
from batch_jobs.scoring import input_columns, label_type, output_schema, score_batch, score_columns, validated
from batch_jobs.spec import PARTITION_KEY, InputSpec, JobSpec
from batch_jobs.splits import Split, plan_splits, read_split, split_first_row
from batch_jobs.summary import ScoreSummary
from scorebridge.bundle import MANIFEST, Bundle
from scorebridge.errors import JavaNotFoundError
from scorebridge.jvm import ensure_java_env

_ENGINES: dict[str, tuple[Bundle, Any]] = {}  # per Python worker: bundle dir -> (bundle, ORT engine)
_ERROR_LINE = re.compile(r"(?:scorebridge|batch_jobs)\.[\w.]*Error: (.*)")
# raised by every mapInArrow call; the engine hands Spark Arrow batches, not pandas frames
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


def _java_major(home: Path) -> int | None:
    """The feature version of the JDK at ``home`` from its ``release`` file (``"1.8.0_x"`` -> 8), or None."""
    try:
        text = (home / "release").read_text(errors="replace")
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_spark(spec: JobSpec) -> None:
    """Before the run waits for its input: PySpark imports and Spark finds a Java runtime it can use.

    Spark's launcher would otherwise print its own errors to stderr and PySpark raise a multi-line
    one; this fails with one line naming what to install.
    """
    try:
        import pyspark
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise BatchError(f"engine = \"spark\" needs PySpark, which cannot be imported ({one_line(exc)}): "
                         "pip install 'scorebridge[spark]'") from None
    if SparkSession.getActiveSession() is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return  # a JVM is already running (or spark-submit launched this driver)
    needed = 17 if int(pyspark.__version__.split(".")[0]) >= 4 else 8
    try:
        home = Path(ensure_java_env()["JAVA_HOME"])
    except JavaNotFoundError:
        env = os.environ.get("JAVA_HOME")
        where = f"JAVA_HOME={env} has no bin/java, " if env else ""
        raise BatchError(f"engine = \"spark\" needs Java {needed}+, and none was found ({where}no java on PATH): "
                         f"install one (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME") from None
    found = _java_major(home)
    if found is not None and found < needed:
        raise BatchError(f"engine = \"spark\" needs Java {needed}+ for PySpark {pyspark.__version__}, but {home} is "
                         f"Java {found}: set JAVA_HOME to a Java {needed}+ runtime")


def spark_log(spec: JobSpec) -> Path:
    """Where a quiet run sends the output of the Spark JVM it starts (its logs, its start-up lines)."""
    return spec.state_dir / "spark-driver.log"


def _start_session(spec: JobSpec) -> Any:
    """A new SparkSession configured from the job (master, conf, Hive).

    A quiet run (``batch run`` and ``backfill`` without ``-v``, or the library with logging below
    INFO) starts the JVM with its stdout and stderr appended to :func:`spark_log`, so that Spark's
    start-up lines and task logs do not bury the run's one-line outcome; otherwise the JVM shares
    this process's stderr, as PySpark does by default.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    conf = SparkConf().setAppName(f"scorebridge-{spec.name}")
    master = spec.spark.master or os.environ.get("SPARK_MASTER")
    if master:
        conf.setMaster(master)
    for key, value in spec.spark.conf.items():
        conf.set(key, value)
    if spec.output.hive_table:
        conf.set("spark.sql.catalogImplementation", "hive")  # what enableHiveSupport() sets
    gateway, where = None, ""
    if not logging.getLogger("batch_jobs").isEnabledFor(logging.INFO):
        conf.setIfMissing("spark.ui.showConsoleProgress", "false")
        log_path = spark_log(spec)
        where = f" (Spark's output: {log_path})"
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log_file:  # the JVM keeps its own descriptor
                gateway = launch_gateway(conf, popen_kwargs={"stdout": log_file, "stderr": log_file})
        except OSError as exc:
            raise BatchError(f"cannot write Spark's output to {log_path}: {one_line(exc)}") from None
        except Exception as exc:  # the JVM did not start (PySparkRuntimeError)
            raise BatchError(f"cannot start Spark: {_first_line(exc)}{where}") from None
    try:
        SparkContext(conf=conf, gateway=gateway)
        return SparkSession.builder.getOrCreate()
    except Exception as exc:  # the JVM did not start, or the context failed (PySparkRuntimeError, Py4J errors)
        raise BatchError(f"cannot start Spark: {_first_line(exc)}{where}") from None


def get_session(spec: JobSpec) -> Any:
    """The active SparkSession, or a new one configured from the job (see :func:`_start_session`)."""
    check_spark(spec)
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession() or _start_session(spec)
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
    partition: str  # the partition being written, for error messages
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

    try:
        with pq.ParquetWriter(attempt, plan.schema, compression="snappy", write_page_checksum=True) as writer:
            batches = read_split(split, open_file, list(plan.columns), plan.batch_size)
            for batch, columns in validated(bundle, batches, split.path, split_first_row(split)):
                out, outputs = score_columns(engine, batch, columns, plan.schema, plan.keep)
                writer.write_batch(out)
                summary.update(outputs)
                rows += batch.num_rows
        os.replace(attempt, stage / name)  # the last step: a failed attempt leaves only its temporary file
    except OSError as exc:  # read errors arrive as InputError: this is the output
        raise unwritable_output(Path(plan.partition), exc) from None
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
    """The useful line of a Spark/Py4J error: our own error's message when a task raised one, else the
    JVM exception's message with its root cause."""
    text = str(exc)
    found = _ERROR_LINE.findall(text)
    if found:
        return found[-1].strip()
    java = getattr(exc, "java_exception", None)  # Py4JJavaError: the Python text is "An error occurred..."
    if java is not None:
        try:
            return _java_reason(java)
        except Exception:  # the JVM is gone: fall back to the Python text
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _java_reason(throwable: Any) -> str:
    """``<message> (<root cause>)`` of a Java exception chain."""
    messages = []
    while throwable is not None and len(messages) < 20:
        message = throwable.getMessage()
        messages.append(one_line(message) if message else throwable.getClass().getName())
        throwable = throwable.getCause()
    top, root = messages[0], messages[-1]
    return top if root in top else f"{top} ({root})"


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
    if ctx.spec.output.hive_table:
        _check_database(spark, ctx.spec.output.hive_table)  # before scoring: a missing one fails at once
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
    check_files(dataset, columns, source)
    splits = plan_splits(dataset, spec.input.format, sc.defaultParallelism)
    bundle_ref, shipped = _ship_bundle(spark, bundle)
    (ctx.stage / _TASK_DIR).mkdir()
    plan = SplitPlan(bundle_ref=bundle_ref, shipped=shipped, splits=tuple(splits), input=spec.input, source=source,
                     keep=spec.output.keep_columns, columns=tuple(columns), schema=schema, stage=str(ctx.stage),
                     partition=str(spec.output.partition(ctx.ds)), batch_size=spec.spark.max_records_per_batch,
                     summary=ctx.summary.partial(seed=0))
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


def _check_database(spark: Any, table: str) -> None:
    """Fail with one line naming the database when ``table``'s database does not exist."""
    database = table.rpartition(".")[0] or spark.catalog.currentDatabase()
    if not spark.catalog.databaseExists(database):
        raise HiveError(f"output.hive_table {table}: database {database!r} does not exist (CREATE DATABASE "
                        f"{database}, or change output.hive_table); nothing was published")


def _external_location(spark: Any, table: str) -> Path | None:
    """The location of ``table`` when it is an EXTERNAL table on the local filesystem, else None."""
    rows = {r["col_name"].strip(): (r["data_type"] or "").strip()
            for r in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()}
    location = rows.get("Location", "")
    if rows.get("Type", "").upper() != "EXTERNAL" or not location.startswith(("file:", "/")):
        return None
    return Path(re.sub(r"^file:(//)?", "", location))


def register_hive(ctx: RunContext, staged: Path) -> None:
    """With ``output.hive_table``, load the sealed staging directory into the table (part of the commit).

    A table that does not exist is created (``STORED AS PARQUET``, partitioned by ``dt``) and the
    rows are loaded with ``INSERT OVERWRITE TABLE ... PARTITION (dt='<ds>')``. An external table
    whose location is the output path reads the published partition itself: the partition is added
    (``ADD IF NOT EXISTS PARTITION ... LOCATION``), no rows are copied. On failure a table created
    here is dropped again and :class:`~batch_jobs.errors.HiveError` says why; the caller publishes
    nothing.
    """
    table = ctx.spec.output.hive_table
    if not table:
        return
    spark = get_session(ctx.spec)
    _check_database(spark, table)  # again: it may have been dropped while the run scored
    spec_ds = f"{PARTITION_KEY}='{ctx.ds}'"
    df = spark.read.parquet(str(staged))
    created = False
    step = "CREATE TABLE"
    try:
        if not spark.catalog.tableExists(table):
            cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in df.schema.fields)
            spark.sql(f"CREATE TABLE {table} ({cols}) PARTITIONED BY ({PARTITION_KEY} STRING) STORED AS PARQUET")
            created = True
        location = _external_location(spark, table)
        if location is not None and location.resolve() == ctx.spec.output.path.resolve():
            step = "ADD PARTITION"
            final = ctx.spec.output.partition(ctx.ds)
            spark.sql(f"ALTER TABLE {table} ADD IF NOT EXISTS PARTITION ({spec_ds}) LOCATION '{final}'")
            return
        step = "INSERT OVERWRITE"
        view = f"scorebridge_{ctx.spec.name}_{ctx.ds.replace('-', '')}"
        df.createOrReplaceTempView(view)
        try:
            spark.sql(f"INSERT OVERWRITE TABLE {table} PARTITION ({spec_ds}) "
                      f"SELECT {', '.join(f'`{c}`' for c in df.columns)} FROM {view}")
        finally:
            spark.catalog.dropTempView(view)
    except Exception as exc:
        if created:
            spark.sql(f"DROP TABLE IF EXISTS {table}")
        raise HiveError(f"output.hive_table {table}: {step} of dt={ctx.ds} failed: {_first_line(exc)}; "
                        "nothing was published") from None
