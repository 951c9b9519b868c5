"""A self-contained batch demo for the quickstart: a sample input partition, a job file, one run.

``run_demo(directory, model)`` writes ``warehouse/features/dt=<ds>/part-00000.parquet`` (the
bundle's verification rows, repeated to ``rows`` rows, with a ``user_id`` column) and its
``_SUCCESS`` marker, writes ``credit_nightly.toml`` beside it, runs the job and returns the output
partition ``warehouse/scores/dt=<ds>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from batch_jobs.partition import SUCCESS
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job
from scorebridge.bundle import Bundle

DEMO_DS = "2026-11-21"

JOB_TEMPLATE = """\
name = "{name}"
model = "{model}"
engine = "{engine}"

[input]
path = "warehouse/features/dt={{ds}}"
format = "parquet"
wait_for_success = true
wait_timeout = "{wait_timeout}"
poll_interval = "1s"

[output]
path = "warehouse/scores"
keep_columns = ["user_id"]

[schedule]
cron = "0 5 * * *"
timezone = "Asia/Shanghai"
lag_days = 1
retries = 2
retry_delay = "10m"
"""


def write_sample_partition(bundle: Bundle, partition: Path, rows: int | None = None, *,
                           success: bool = True, seed: int = 0) -> pa.Table:
    """Write the bundle's verification inputs (resampled to ``rows`` rows) plus ``user_id`` as a partition.

    Returns the table written. ``user_id`` is ``1..n`` in row order, so outputs can be joined back.
    """
    frame = bundle.read_verification()[bundle.schema.names]
    if rows is not None and rows != len(frame):
        idx = np.random.default_rng(seed).integers(0, len(frame), rows)
        frame = frame.iloc[idx].reset_index(drop=True)
    frame.insert(0, "user_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    partition.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, partition / "part-00000.parquet")
    if success:
        (partition / SUCCESS).touch()
    return table


def write_job(directory: Path, model: str | os.PathLike[str], *, name: str = "credit_nightly",
              engine: str = "local", wait_timeout: str = "5s", extra: str = "") -> Path:
    """Write ``<name>.toml`` into ``directory`` (paths relative to it); ``extra`` is appended verbatim."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    text = JOB_TEMPLATE.format(name=name, model=Path(model).absolute().as_posix(), engine=engine,
                               wait_timeout=wait_timeout)
    path.write_text(text + extra)
    return path


ONLINE_TEMPLATE = """
[online]
url = "{url}"
entity = "user_id"
"""


def run_demo(directory: str | os.PathLike[str], model: str | os.PathLike[str], *,
             ds: str = DEMO_DS, rows: int | None = None, feature_store: str | None = None) -> Path:
    """Write a sample partition and job into ``directory``, run the job, return the output partition.

    With ``feature_store`` (a Redis URL) the job has an ``[online]`` table keyed by ``user_id``, so the
    run also publishes the partition's features to it (``docs/online-features.md``).
    """
    directory = Path(directory)
    bundle = Bundle.load(model, verify=False)
    write_sample_partition(bundle, directory / "warehouse" / "features" / f"dt={ds}", rows)
    extra = ONLINE_TEMPLATE.format(url=feature_store) if feature_store else ""
    job = load_job(write_job(directory, model, extra=extra))
    return run_job(job, ds, tty=False).partition


run = run_demo  # the name the quickstart looks up
