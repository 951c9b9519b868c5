"""Every batch failure a user can cause or meet is one line on stderr and exit 2, through the real CLI.

Corrupt pages and truncated files are made by editing real Parquet files; the full disk and the
read-only output are real filesystems (a size-limited tmpfs, remounted read-only), so the engine
meets the kernel's own ENOSPC and EROFS. Each failed run leaves the previous partition byte for byte
and no staging directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from batch_jobs.demo import write_sample_partition
from batch_jobs.history import RunHistory
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job

from .conftest import DS, ROOT, job_doc, run_cli


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def hidden_leftovers(table: Path) -> list[str]:
    """Staging or set-aside directories left in a table (the lock directory is expected)."""
    return sorted(p.name for p in table.iterdir() if p.name.startswith(".dt="))


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command (asserting exit 2 and nothing else on stderr)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("scorebridge: error: ")
    assert proc.stdout == ""
    return lines[0].removeprefix("scorebridge: error: ")


def last_run(spec) -> dict:
    run = RunHistory(spec.state_dir).recent(spec.name, 1)[0]
    assert "\n" not in run["message"]
    return run


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator:
    """``mount_tmpfs(name, size)`` mounts a size-limited tmpfs (unmounted after the test); needs root."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def corrupt_last_page(path: Path, row_group: int = 1, column: int = 1) -> None:
    """Flip bytes inside the data of the last page of one column chunk (its checksum no longer matches)."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(column)
    end = chunk.data_page_offset + chunk.total_compressed_size
    data = bytearray(path.read_bytes())
    for i in range(end - 24, end - 8):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def corrupt_page_header(path: Path, row_group: int = 1, column: int = 1) -> None:
    """Overwrite the header of a column chunk's first data page (undecodable with or without checksums)."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(column)
    data = bytearray(path.read_bytes())
    data[chunk.data_page_offset:chunk.data_page_offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


@pytest.fixture
def three_files(tmp_path, credit_bundle):
    """An input partition of three Parquet files written with page checksums (as Spark writes them)."""
    def write(checksums: bool = True) -> list[Path]:
        part = tmp_path / "warehouse/features" / f"dt={DS}"
        table = write_sample_partition(credit_bundle, part, rows=3000, seed=4)
        (part / "part-00000.parquet").unlink()
        files = []
        for i in range(3):
            path = part / f"part-{i:05d}.parquet"
            pq.write_table(table.slice(i * 1000, 1000), path, row_group_size=250, data_page_size=1024,
                           write_page_checksum=checksums)
            files.append(path)
        return files
    return write


@pytest.mark.parametrize("damage", ["page_data", "page_header", "truncated"])
def test_unreadable_input_is_one_line_and_keeps_the_previous_partition(tmp_path, write_job, credit_bundle,
                                                                       three_files, damage):
    files = three_files(checksums=damage == "page_data")
    job = write_job(job_doc(credit_bundle.path, local={"batch_size": 200}))
    spec = load_job(job)
    run_job(spec, DS, tty=False)  # the previous partition
    previous = snapshot(spec.output.partition(DS))

    bad = files[1]
    if damage == "page_data":
        corrupt_last_page(bad)
        reason = "could not verify page integrity, CRC checksum verification failed"
    elif damage == "page_header":
        corrupt_page_header(bad)
        reason = "Couldn't deserialize thrift"
    else:
        os.truncate(bad, bad.stat().st_size // 2)
        reason = "Parquet magic bytes not found in footer"
    line = one_error_line(run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path))
    assert line.startswith(f"cannot read input {tmp_path / 'warehouse/features'}/dt={DS}")
    assert reason in line and line.endswith("(corrupt or truncated file?); nothing was published")
    if damage != "truncated":  # a footer error names the file in Arrow's words; a page error in ours
        assert line.startswith(f"cannot read input {bad}: ")
    else:
        assert str(bad) in line
    assert snapshot(spec.output.partition(DS)) == previous
    assert hidden_leftovers(spec.output.path) == []
    run = last_run(spec)
    assert run["status"] == "failed" and run["message"] == f"InputError: {line}"


def test_a_full_disk_is_one_line_and_frees_the_staging_space(tmp_path, mount_tmpfs, partition, write_job,
                                                             credit_bundle):
    disk = mount_tmpfs("small-disk", "1m")
    job = write_job(job_doc(credit_bundle.path, output={"path": str(disk / "scores")}))
    spec = load_job(job)
    partition()  # 209 rows: the previous partition fits
    run_job(spec, DS, tty=False)  # the previous partition
    previous = snapshot(spec.output.partition(DS))
    free_before = shutil.disk_usage(disk).free

    partition(rows=200_000, seed=1)  # megabytes of scores: the disk fills while writing them
    line = one_error_line(run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path))
    assert line == (f"cannot write {disk}/scores/dt={DS}: no space left on device; nothing was published "
                    "(the staging directory was removed)")
    assert snapshot(spec.output.partition(DS)) == previous
    assert hidden_leftovers(spec.output.path) == []
    assert shutil.disk_usage(disk).free == free_before
    assert last_run(spec)["message"] == f"OutputError: {line}"


def test_a_read_only_output_is_one_line(tmp_path, mount_tmpfs, partition, write_job, credit_bundle):
    disk = mount_tmpfs("ro-disk", "4m")
    job = write_job(job_doc(credit_bundle.path, output={"path": str(disk / "scores")}))
    spec = load_job(job)
    partition()
    run_job(spec, DS, tty=False)  # the previous partition
    previous = snapshot(spec.output.partition(DS))
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

    line = one_error_line(run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path))
    assert line.startswith(f"cannot write {disk}/scores/dt={DS}: the output is on a read-only file system (")
    assert line.endswith("); nothing was written")
    assert snapshot(spec.output.partition(DS)) == previous
    partition("2026-11-20")
    line = one_error_line(run_cli("batch", "run", str(job), "--date", "2026-11-20", cwd=tmp_path))
    assert line.startswith(f"cannot write {disk}/scores/dt=2026-11-20: the output is on a read-only file system")


def run_without(job: Path, cwd: Path, *, block_pyspark: bool = False, env: dict | None = None):
    """``scorebridge batch run`` in a Python that cannot import PySpark, or with another environment."""
    code = ("import sys\n"
            + ("sys.modules['pyspark'] = None  # what Python does for a module that is not installed\n"
               if block_pyspark else "")
            + "from scorebridge.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code, "batch", "run", str(job), "--date", DS], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=120)


def test_a_missing_spark_is_one_line_before_anything_is_written(tmp_path, partition, write_job, credit_bundle):
    partition()
    job = write_job(job_doc(credit_bundle.path, engine="spark"))
    spec = load_job(job)

    line = one_error_line(run_without(job, tmp_path, block_pyspark=True))
    assert line.startswith('engine = "spark" needs PySpark, which cannot be imported (')
    assert line.endswith("): pip install 'scorebridge[spark]'")

    python_only = str(Path(sys.executable).parent)  # no java on this PATH
    line = one_error_line(run_without(job, tmp_path, env={"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": python_only}))
    assert line == ('engine = "spark" needs Java 17+, and none was found '
                    f"(JAVA_HOME={tmp_path}/no-jdk has no bin/java, no java on PATH): install one "
                    "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    assert not spec.output.path.exists()  # checked before the input wait and the output table
    assert [r["status"] for r in RunHistory(spec.state_dir).recent(spec.name)] == ["failed", "failed"]


def test_java_version_comes_from_the_jdk_release_file():
    from batch_jobs.spark import _java_major
    from scorebridge.jvm import java_home

    release = (java_home() / "release").read_text()
    expected = int(release.split('JAVA_VERSION="')[1].split(".")[0].split('"')[0])
    assert _java_major(java_home()) == expected >= 17


@pytest.mark.spark
def test_a_corrupt_input_through_the_spark_engine_is_one_line(tmp_path, write_job, credit_bundle, three_files):
    pytest.importorskip("pyspark")
    files = three_files()
    corrupt_last_page(files[2])
    job = write_job(job_doc(credit_bundle.path, engine="spark", spark={"master": "local[1]"}))
    line = one_error_line(run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path, timeout=300))
    assert line.startswith(f"Spark job failed for {files[2].parent}: cannot read input {files[2]}: could not verify "
                           "page integrity, CRC checksum verification failed")
    spec = load_job(job)
    assert hidden_leftovers(spec.output.path) == [] and not spec.output.partition(DS).exists()
