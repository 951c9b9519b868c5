"""Atomic, overwrite-style publication of one Hive-style partition (``<table>/dt=<ds>/``).

A run writes into a hidden staging directory beside the partition (``.dt=<ds>.tmp-<token>``; Hive,
Spark and pyarrow skip names starting with ``.`` or ``_``), then :meth:`StagedPartition.seal`
writes ``_RUN.json`` and ``_SUCCESS`` last, and :meth:`StagedPartition.publish` renames it into
place. When the partition already exists the two directories are swapped atomically (Linux
``renameat2(RENAME_EXCHANGE)``), so a reader sees the old partition or the new one, never a mix and
never nothing; the old copy is then deleted. Where the exchange is unsupported the old partition is
first renamed aside (``.dt=<ds>.old-<token>``) and, if the process dies in between, the next run of
that date puts it back. Other partitions are never touched.

One lock per partition (``<table>/.scorebridge-locks/dt=<ds>``, ``flock``) serialises the writers
of a date, so two dates of one table are written at once while a second writer of the same date is
refused, and leftovers of a killed run of that date, found under its lock, are known to be stale.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_jobs.errors import PartitionBusyError
from batch_jobs.spec import PARTITION_KEY

SUCCESS = "_SUCCESS"
RUN_RECORD = "_RUN.json"
LOCKS = ".scorebridge-locks"  # one lock file per date: <table>/.scorebridge-locks/dt=<ds>
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

    def seal(self, record: dict[str, Any]) -> None:
        """Write ``_RUN.json`` then ``_SUCCESS`` into the staging directory, durably."""
        for stray in (SUCCESS, RUN_RECORD):  # e.g. Spark's own _SUCCESS: ours must be written last
            (self.path / stray).unlink(missing_ok=True)
        write_durably(self.path / RUN_RECORD, (json.dumps(record, indent=2, default=str) + "\n").encode())
        write_durably(self.path / SUCCESS, b"")
        fsync_dir(self.path)

    def publish(self) -> Path:
        """Rename the sealed staging directory into place (replacing the partition); returns its path."""
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

    def commit(self, record: dict[str, Any]) -> Path:
        """:meth:`seal` and :meth:`publish`; returns the partition's path."""
        self.seal(record)
        return self.publish()


def lock_path(table: Path, ds: str) -> Path:
    """The lock file of partition ``ds`` of ``table``."""
    return table / LOCKS / f"{PARTITION_KEY}={ds}"


def _try_lock(path: Path) -> int | None:
    """An fd holding ``path``'s exclusive flock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def partition_lock(table: Path, ds: str, patience: float = 1.0) -> Iterator[None]:
    """Hold the writer lock of ``<table>/dt=<ds>``: a second writer of that date fails after
    ``patience`` seconds (which cover another date's run briefly taking it in :func:`sweep`), naming
    the holder's pid; writers of other dates are not affected."""
    path = lock_path(table, ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + patience
    while (fd := _try_lock(path)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if fd is None:
        try:
            holder = path.read_text(errors="replace").strip() or "another process"
        except OSError:
            holder = "another process"
        raise PartitionBusyError(f"{table / f'{PARTITION_KEY}={ds}'} is being written by {holder}; "
                                 "wait for it to finish")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _leftover_ds(name: str) -> str | None:
    """The date of a staging or set-aside directory name (``.dt=<ds>.tmp-<t>``, ``.dt=<ds>.old-<t>``)."""
    prefix = f".{PARTITION_KEY}="
    if not name.startswith(prefix):
        return None
    for marker in (".tmp-", ".old-"):
        if marker in name:
            return name[len(prefix):name.index(marker)]
    return None


def recover(table: Path, ds: str) -> None:
    """Under ``ds``'s lock: restore its partition left renamed aside by a killed run, delete its
    staging leftovers."""
    final = table / f"{PARTITION_KEY}={ds}"
    for entry in sorted(table.iterdir()):
        if _leftover_ds(entry.name) != ds:
            continue
        if ".old-" in entry.name and not final.exists() and (entry / SUCCESS).exists():
            os.rename(entry, final)
            continue
        shutil.rmtree(entry, ignore_errors=True)


def sweep(table: Path, skip: str) -> None:
    """Recover the other dates whose leftovers lie in ``table`` and whose lock is free right now
    (a date being written is left to its writer)."""
    dates = {d for d in map(_leftover_ds, (e.name for e in table.iterdir())) if d and d != skip}
    for ds in sorted(dates):
        path = lock_path(table, ds)
        fd = _try_lock(path)
        if fd is None:
            continue
        try:
            recover(table, ds)
        finally:
            os.close(fd)


@contextmanager
def staged_partition(table: Path, ds: str) -> Iterator[StagedPartition]:
    """Yield a :class:`StagedPartition` under the partition's lock; unless published, it is removed on exit."""
    with partition_lock(table, ds):
        recover(table, ds)
        sweep(table, skip=ds)
        tmp = table / f".{PARTITION_KEY}={ds}.tmp-{secrets.token_hex(4)}"
        tmp.mkdir()
        stage = StagedPartition(table=table, ds=ds, path=tmp)
        try:
            yield stage
        finally:
            if not stage.committed:
                shutil.rmtree(tmp, ignore_errors=True)
