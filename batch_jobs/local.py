"""The local engine: stream the input partition with ``pyarrow.dataset``, score with the bundle's
engine (ONNX Runtime by default), write Parquet with pyarrow, in bounded memory.

Reading (Parquet decode + validation), scoring (``local.threads`` batches at once) and writing
(encode + compress) run in stages connected by small bounded queues, so the cores overlap I/O with
scoring while only a few batches are in memory, whatever the partition size. pyarrow and ONNX
Runtime release the GIL in their native work.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from batch_jobs.context import RunContext
from batch_jobs.errors import BatchError, InputError, JobCancelledError
from batch_jobs.failures import unreadable_input
from batch_jobs.progress import Progress
from batch_jobs.scoring import input_columns, output_schema, score_columns, validated
from batch_jobs.spec import InputSpec
from scorebridge.bundle import Bundle
from scorebridge.engines import load_engine

T = TypeVar("T")
QUEUE_DEPTH = 2
ROWS_PER_FILE = 8_000_000  # a few files per big partition lets downstream readers parallelise
_DONE = object()


def open_input(spec: InputSpec, path: Path, bundle: Bundle) -> pads.Dataset:
    """The input partition as a dataset; CSV columns get the model's types (strings stay strings)."""
    if spec.format == "csv":
        types = {f.name: (pa.float64() if f.is_numeric else pa.string()) for f in bundle.schema.fields}
        fmt: Any = pads.CsvFileFormat(convert_options=pacsv.ConvertOptions(column_types=types))
    else:
        fmt = "parquet"
    try:
        dataset = pads.dataset(str(path), format=fmt)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_input(path, exc) from None
    if not dataset.files:
        # no schema to check and nothing to score: an upstream that wrote nothing, not an empty day
        # (an empty day is a file with the schema and no rows, as Spark and pyarrow write it)
        raise InputError(f"input {path} holds no {spec.format} file (names starting with . or _ are not data); "
                         "an empty day needs a file with the columns and no rows; nothing was published")
    return dataset


def check_files(dataset: pads.Dataset, columns: list[str], source: str) -> None:
    """Every file of the partition holds every column read.

    The dataset's schema is its first file's; a later file without one of those columns would be
    read as nulls in it, and its rows scored as missing values: a silently wrong answer.
    """
    for fragment in dataset.get_fragments():
        try:
            names = fragment.physical_schema.names
        except (OSError, pa.ArrowException) as exc:
            raise unreadable_input(fragment.path, exc) from None
        missing = [c for c in columns if c not in names]
        if missing:
            raise BatchError(f"input file {fragment.path} lacks column(s) {', '.join(map(repr, missing))} "
                             f"that other files of {source} have; nothing was published")


def read_batches(dataset: pads.Dataset, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """The dataset's record batches (``columns`` only), file by file in the dataset's order.

    A file that cannot be decoded (corrupt pages, a page checksum that does not match, a truncated
    file) fails with :class:`~batch_jobs.errors.InputError` naming it. Page checksums, where the
    writer stored them (Spark does; so does this engine), are verified.
    """
    options = pads.ParquetFragmentScanOptions(page_checksum_verification=True) \
        if isinstance(dataset.format, pads.ParquetFileFormat) else None
    for fragment in dataset.get_fragments():
        try:
            yield from fragment.to_batches(schema=dataset.schema, columns=columns, batch_size=batch_size,
                                           batch_readahead=2, fragment_scan_options=options, use_threads=True)
        except (OSError, pa.ArrowException) as exc:
            raise unreadable_input(fragment.path, exc) from None


def count_rows(dataset: pads.Dataset, path: Path) -> int:
    """Rows in a Parquet dataset, from the file footers (a truncated file fails here, naming it)."""
    try:
        return dataset.count_rows()
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_input(path, exc) from None


def background(items: Iterable[T], cancel: threading.Event, depth: int = QUEUE_DEPTH) -> Iterator[T]:
    """Iterate ``items`` in a producer thread, ``depth`` items ahead; re-raises its exceptions."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            if cancel.is_set():
                raise JobCancelledError("run cancelled before it committed; nothing was published")
            yield item
    finally:
        stop.set()
        thread.join()


class RotatingParquetWriter:
    """Writes batches to ``part-NNNNN.parquet`` files in a writer thread, a new file every ``rows_per_file``."""

    def __init__(self, directory: Path, schema: pa.Schema, rows_per_file: int = ROWS_PER_FILE) -> None:
        self.directory, self.schema, self.rows_per_file = directory, schema, rows_per_file
        self.files: list[str] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_file = 0
        self._q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        name = f"part-{len(self.files):05d}.parquet"
        self.files.append(name)
        self._writer = pq.ParquetWriter(self.directory / name, self.schema, compression="snappy",
                                        write_page_checksum=True)
        self._in_file = 0

    def _run(self) -> None:
        try:
            while (batch := self._q.get()) is not _DONE:
                if self._writer is None or self._in_file >= self.rows_per_file:
                    self.close_file()
                    self._open()
                self._writer.write_batch(batch)
                self._in_file += batch.num_rows
                self.rows += batch.num_rows
            if self._writer is None:  # an empty partition still gets a readable file with the schema
                self._open()
            self.close_file()
        except BaseException as exc:
            self._error = exc
            while self._q.get() is not _DONE:  # drain so the producer never blocks
                pass

    def close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(batch)

    def finish(self) -> None:
        """Flush and close; re-raises a write error."""
        self._q.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        if self._thread.is_alive():
            self._q.put(_DONE)
            self._thread.join()
        self.close_file()


class ScoringPool:
    """Scores batches on ``workers`` threads, each with its own engine, yielding results in input order.

    Whole batches in parallel on single-threaded engines beat one engine with intra-op threads:
    ONNX Runtime's tree ensembles spend ~12% more CPU per row when one batch is split across two
    threads, and the native pipeline's preprocessing is single-threaded anyway.
    """

    def __init__(self, make_engine: Callable[[], Any], workers: int) -> None:
        self.engines: queue.SimpleQueue = queue.SimpleQueue()
        self.described = ""
        for _ in range(workers):
            engine = make_engine()
            self.described = engine.describe()
            self.engines.put(engine)
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="batch-score")

    def _score(self, fn: Callable[[Any, T], Any], item: T) -> Any:
        engine = self.engines.get()
        try:
            return fn(engine, item)
        finally:
            self.engines.put(engine)

    def map(self, fn: Callable[[Any, T], Any], items: Iterable[T]) -> Iterator[Any]:
        """``fn(engine, item)`` for each item, at most ``workers + 1`` in flight, in order."""
        pending: deque[Future] = deque()
        try:
            for item in items:
                pending.append(self.pool.submit(self._score, fn, item))
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        while not self.engines.empty():
            self.engines.get().close()


def run_local(ctx: RunContext) -> dict[str, Any]:
    """Score ``ctx.input_path`` into Parquet files in ``ctx.stage``; returns rows, files and engine details."""
    spec, bundle, summary = ctx.spec, ctx.bundle, ctx.summary
    source = str(ctx.input_path)
    dataset = open_input(spec.input, ctx.input_path, bundle)
    keep = spec.output.keep_columns
    schema = output_schema(bundle, dataset.schema, keep, source)
    columns = input_columns(bundle, keep)
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise BatchError(f"input {source} lacks column(s) {', '.join(map(repr, missing))} the model needs")
    check_files(dataset, columns, source)
    # spin=False: idle ORT pool threads would burn the cores the reader and writer need
    scorers = ScoringPool(lambda: load_engine(bundle, spec.local.runtime, threads=1, spin=False,
                                              trust_pickles=spec.local.trust_pickles), spec.local.threads)
    total = count_rows(dataset, ctx.input_path) if spec.input.format == "parquet" else None
    progress = Progress(ctx.label, total, tty=ctx.tty)
    batches = read_batches(dataset, columns, spec.local.batch_size)
    # validation and Arrow -> NumPy conversion run in the reader thread, overlapping the scoring
    prepared = validated(bundle, batches, source)

    def score(engine: Any, item: tuple[pa.RecordBatch, Any]) -> tuple[pa.RecordBatch, dict[str, Any]]:
        return score_columns(engine, item[0], item[1], schema, keep)

    writer = RotatingParquetWriter(ctx.stage, schema)
    rows_in = 0
    try:
        for out, outputs in scorers.map(score, background(prepared, ctx.cancel)):
            summary.update(outputs)
            writer.write(out)
            rows_in += out.num_rows
            progress.advance(out.num_rows)
            if ctx.on_batch is not None:
                ctx.on_batch(rows_in)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        scorers.close()
    progress.close()
    return {"rows_in": rows_in, "rows_out": writer.rows, "files": writer.files,
            "scoring": f"{scorers.described}, {spec.local.threads} batches in parallel, "
                       f"batches of {spec.local.batch_size:,} rows"}
