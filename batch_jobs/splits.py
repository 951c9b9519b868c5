"""Input splits: an input partition cut into units that parallel tasks read on their own.

A split is whole Parquet row groups of one file (read with ``ParquetFile.iter_batches``), or one
whole CSV file. Splits never cross files, so a task opens exactly one file. The planner aims at a
few splits per core (an uneven last wave then costs little) and never below ``min_rows`` rows, so
small partitions do not pay per-task overhead many times over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from batch_jobs.errors import BatchError
from batch_jobs.failures import one_line, unreadable_input

SPLITS_PER_CORE = 4
MIN_SPLIT_ROWS = 65_536


@dataclass(frozen=True)
class Split:
    """Rows ``row_groups`` of ``path`` (``None``: the whole file); ``rows`` when known up front."""

    index: int
    path: str
    row_groups: tuple[int, ...] | None
    rows: int | None


def plan_splits(dataset: pads.Dataset, fmt: str, cores: int, *, per_core: int = SPLITS_PER_CORE,
                min_rows: int = MIN_SPLIT_ROWS) -> list[Split]:
    """Cut ``dataset`` (as opened by ``open_input``) into splits for ``cores`` parallel tasks."""
    files = sorted(dataset.files)
    if fmt != "parquet":
        return [Split(i, path, None, None) for i, path in enumerate(files)]
    groups: list[tuple[str, list[int]]] = []
    for path in files:
        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, pa.ArrowException) as exc:
            raise BatchError(f"cannot read input {path}: {one_line(exc)} (corrupt or truncated file?); "
                             "nothing was published") from None
        groups.append((path, [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]))
    total = sum(sum(rows) for _, rows in groups)
    target = max(math.ceil(total / max(per_core * cores, 1)), min_rows)
    splits: list[Split] = []
    for path, rows in groups:
        start, acc = 0, 0
        for i, n in enumerate(rows):
            acc += n
            if acc >= target or i == len(rows) - 1:
                splits.append(Split(len(splits), path, tuple(range(start, i + 1)), acc))
                start, acc = i + 1, 0
        if not rows:  # a file without row groups still contributes its (empty) schema
            splits.append(Split(len(splits), path, (), 0))
    return splits


def read_split(split: Split, open_file: Callable[[Path], pads.Dataset], columns: list[str],
               batch_size: int) -> Iterator[pa.RecordBatch]:
    """The record batches of one split, ``columns`` only, at most ``batch_size`` rows each.

    ``open_file`` opens a whole-file split as a dataset (``local.open_input`` with the job's format).
    A file that cannot be decoded fails with :class:`~batch_jobs.errors.InputError` naming it; page
    checksums, where the writer stored them, are verified.
    """
    try:
        if split.row_groups is None:
            yield from open_file(Path(split.path)).to_batches(columns=columns, batch_size=batch_size)
        elif split.row_groups:
            parquet = pq.ParquetFile(split.path, page_checksum_verification=True)
            yield from parquet.iter_batches(batch_size=batch_size, row_groups=list(split.row_groups), columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_input(split.path, exc) from None


def split_first_row(split: Split) -> int:
    """The row of ``split.path`` the split starts at (0 for a whole file), for error messages."""
    if not split.row_groups:
        return 0
    try:
        meta = pq.ParquetFile(split.path).metadata
    except (OSError, pa.ArrowException):
        return 0  # reading the split says what is wrong with the file
    return sum(meta.row_group(i).num_rows for i in range(split.row_groups[0]))
