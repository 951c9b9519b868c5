"""One lock per partition: two dates of a table are written at once, the same date twice is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq

from batch_jobs.history import RunHistory
from batch_jobs.partition import SUCCESS, partition_lock, staged_partition
from batch_jobs.spec import load_job

from .conftest import DS, ROOT, job_doc, run_cli
from .test_failures import one_error_line

OTHER = "2026-11-20"

# Runs a job for one date in a child process that stops after its first scored batch until the
# parent creates the release file: the child then holds that partition's lock, mid-write.
HOLDER = """
import sys, time
from pathlib import Path
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job

job, started, release, ds = sys.argv[1:]

def on_batch(rows):
    Path(started).touch()
    deadline = time.monotonic() + 120
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)

print(run_job(load_job(job), ds, tty=False, on_batch=on_batch).rows)
"""


@contextmanager
def holding(job: Path, ds: str, workdir: Path) -> Iterator[subprocess.Popen]:
    """A child process mid-write of ``ds`` (holding its lock) until the block exits."""
    started, release = workdir / f"started-{ds}", workdir / f"release-{ds}"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(job), str(started), str(release), ds],
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.05)
        yield child
        release.touch()
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def test_two_dates_run_at_once_and_the_same_date_is_refused(tmp_path, partition, write_job, credit_bundle):
    partition(DS, rows=2000, seed=1)
    partition(OTHER, rows=700, seed=2)
    job = write_job(job_doc(credit_bundle.path, local={"batch_size": 500}))
    spec = load_job(job)
    table = spec.output.path

    with holding(job, DS, tmp_path) as child:
        other = run_cli("batch", "run", str(job), "--date", OTHER, cwd=tmp_path)
        assert other.returncode == 0, other.stderr
        assert child.poll() is None  # still mid-write of DS while OTHER was written and published
        assert pq.read_table(spec.output.partition(OTHER)).num_rows == 700
        assert not spec.output.partition(DS).exists()

        same = one_error_line(run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path))
        assert same == (f"{table}/dt={DS} is being written by pid {child.pid} on {socket.gethostname()}; "
                        "wait for it to finish")
    assert pq.read_table(spec.output.partition(DS)).num_rows == 2000
    assert (spec.output.partition(DS) / SUCCESS).exists()
    assert not [p for p in table.iterdir() if p.name.startswith(".dt=")]
    runs = RunHistory(spec.state_dir).recent(spec.name)
    assert sorted((r["ds"], r["status"]) for r in runs) == [(OTHER, "success"), (DS, "failed"), (DS, "success")]


def test_leftovers_of_other_dates_are_cleaned_only_when_their_lock_is_free(tmp_path):
    table = tmp_path / "scores"
    table.mkdir()
    busy, idle = "2026-11-19", "2026-11-18"
    for ds in (busy, idle):
        (table / f".dt={ds}.tmp-0badc0de").mkdir()
    with partition_lock(table, busy), staged_partition(table, DS) as stage:
        assert stage.path.parent == table
        left = sorted(p.name for p in table.iterdir() if p.name.startswith(".dt="))
        assert left == [f".dt={busy}.tmp-0badc0de", stage.path.name]  # the idle date's leftover is gone
