"""Atomic, overwrite-style publication of one Hive-style partition (``<table>/dt=<ds>/``).

A run writes into a hidden staging directory beside the partition (``.dt=<ds>.tmp-<token>``; Hive,
Spark and pyarrow skip names starting with ``.`` or ``_``), then writes ``_RUN.json`` and
``_SUCCESS`` last, and publishes it with one rename. When the partition already exists the two
directories are swapped atomically (Linux ``renameat2(RENAME_EXCHANGE)``), so a reader sees the old
partition or the new one, never a mix and never nothing; the old copy is then deleted. Where the
exchange is unsupported the old partition is first renamed aside (``.dt=<ds>.old-<token>``) and, if
the process dies in between, the next run puts it back. Other partitions are never touched.

One lock file per table (``<table>/.scorebridge.lock``, ``flock``) serialises writers, so leftovers
of a killed run found under the lock are known to be stale and are removed.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_jobs.errors import PartitionBusyError
from batch_jobs.spec import PARTITION_KEY

SUCCESS = "_SUCCESS"
RUN_RECORD = "_RUN.json"
LOCK = ".scorebridge.lock"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _load_renameat2() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # non-glibc or old glibc
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the OS or filesystem cannot (caller falls back)."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a))


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write a small file and fsync it."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_run_record(partition: Path) -> dict[str, Any] | None:
    """The ``_RUN.json`` of a published partition, or None."""
    try:
        return json.loads((partition / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class StagedPartition:
    """A staging directory for ``<table>/dt=<ds>``; write data files into :attr:`path`, then :meth:`commit`."""

    table: Path
    ds: str
    path: Path
    committed: bool = False

    @property
    def final(self) -> Path:
        return self.table / f"{PARTITION_KEY}={self.ds}"

    def commit(self, record: dict[str, Any]) -> Path:
        """Write ``_RUN.json`` then ``_SUCCESS`` and publish the partition; returns its path."""
        for stray in (SUCCESS, RUN_RECORD):  # e.g. Spark's own _SUCCESS: ours must be written last
            (self.path / stray).unlink(missing_ok=True)
        write_durably(self.path / RUN_RECORD, (json.dumps(record, indent=2, default=str) + "\n").encode())
        write_durably(self.path / SUCCESS, b"")
        fsync_dir(self.path)
        final = self.final
        if not final.exists():
            os.rename(self.path, final)
        elif exchange(self.path, final):
            shutil.rmtree(self.path)  # now holds the previous partition
        else:
            aside = self.table / f".{final.name}.old-{secrets.token_hex(4)}"
            os.rename(final, aside)
            os.rename(self.path, final)
            shutil.rmtree(aside)
        fsync_dir(self.table)
        self.committed = True
        return final


@contextmanager
def table_lock(table: Path) -> Iterator[None]:
    """Hold the table's writer lock (non-blocking: a second writer fails at once with a clear message)."""
    table.mkdir(parents=True, exist_ok=True)
    fd = os.open(table / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise PartitionBusyError(f"{table} is being written by {holder}; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def recover(table: Path) -> None:
    """Under the lock: restore a partition left renamed aside by a killed run, delete staging leftovers."""
    for entry in table.iterdir():
        name = entry.name
        if not name.startswith(f".{PARTITION_KEY}="):
            continue
        if ".old-" in name:
            final = table / name[1:].split(".old-")[0]
            if not final.exists() and (entry / SUCCESS).exists():
                os.rename(entry, final)
                continue
        if ".tmp-" in name or ".old-" in name:
            shutil.rmtree(entry, ignore_errors=True)


@contextmanager
def staged_partition(table: Path, ds: str) -> Iterator[StagedPartition]:
    """Yield a :class:`StagedPartition` under the table lock; unless committed, it is removed on exit."""
    with table_lock(table):
        recover(table)
        tmp = table / f".{PARTITION_KEY}={ds}.tmp-{secrets.token_hex(4)}"
        tmp.mkdir()
        stage = StagedPartition(table=table, ds=ds, path=tmp)
        try:
            yield stage
        finally:
            if not stage.committed:
                shutil.rmtree(tmp, ignore_errors=True)
