"""A run killed with SIGKILL while writing leaves the previous partition intact; the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from batch_jobs.partition import SUCCESS
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job

from .conftest import DS, ROOT, job_doc

# Runs the job in a child process that announces its first written batch, then scores slowly so the
# parent can kill it mid-write.
CHILD = """
import sys, time
from pathlib import Path
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job

def on_batch(rows):
    Path(sys.argv[2]).touch()
    time.sleep(0.2)

run_job(load_job(sys.argv[1]), sys.argv[3], tty=False, on_batch=on_batch)
"""


def test_sigkill_mid_write_keeps_the_previous_partition(tmp_path, partition, write_job, credit_bundle):
    job = write_job(job_doc(credit_bundle.path, local={"batch_size": 1000}))
    spec = load_job(job)
    partition(rows=500, seed=1)
    previous = run_job(spec, DS, tty=False).partition
    before = {p.name: p.read_bytes() for p in previous.iterdir()}

    partition(rows=20_000, seed=2)
    started = tmp_path / "child-started"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(job), str(started), DS], env=env,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "child never started writing"
            time.sleep(0.05)
        time.sleep(0.3)  # a few batches into the write
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()

    table = spec.output.path
    staged = [p for p in table.iterdir() if p.name.startswith(f".dt={DS}.tmp-")]
    assert len(staged) == 1 and any(staged[0].iterdir()), "the child was not killed mid-write"
    assert sorted(p.name for p in table.iterdir() if not p.name.startswith(".")) == [f"dt={DS}"]
    assert {p.name: p.read_bytes() for p in previous.iterdir()} == before  # byte for byte
    assert pq.read_table(previous).num_rows == 500

    result = run_job(spec, DS, tty=False)
    assert result.rows == 20_000 and pq.read_table(result.partition).num_rows == 20_000
    assert (result.partition / SUCCESS).exists()
    assert not any(p.name.startswith(f".dt={DS}.") for p in table.iterdir())  # leftovers cleaned
