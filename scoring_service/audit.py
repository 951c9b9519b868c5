"""Audit log: one JSON line per prediction request, optionally with sampled inputs and outputs.

Every line is written whole or not at all, and lines from several threads and workers never
interleave: a worker holds an exclusive ``flock`` on the file while it appends (``O_APPEND``) one
line with one ``write``, and if the disk takes only part of it (full, or past ``RLIMIT_FSIZE``),
truncates the file back to where the line began (the lock keeps every other writer out until then).
A line that cannot be written is dropped and counted (``scorebridge_audit_dropped_total``), the
first failure is logged (and the recovery), and scoring goes on.

Rotation: a worker checks, at most every :data:`RENAME_CHECK_SECONDS`, that the path still names
its file; when ``logrotate`` (or anyone) renamed or removed it, the worker opens a new one (SIGUSR1
reopens at once, as for gunicorn's logs). With ``max_bytes`` the workers rotate it themselves: the
worker whose line takes the file past the limit (the file's size is where ``O_APPEND`` left the
offset: no ``stat`` per line) renames ``audit.jsonl`` to ``audit.jsonl.1`` (``.1`` to ``.2``...,
keeping ``keep`` of them) under the lock, and a sibling's next line, finding the file past the
limit and renamed, makes it follow. Lines still on their way to a renamed file land in it (one per
sibling at most after a size rotation), so no line is lost to a rotation.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from scorebridge.schema import Columns

log = logging.getLogger("scoring_service")

# how often a worker stats the path to notice a rename (a stat per line cost ~1.5 us of CPU)
RENAME_CHECK_SECONDS = 0.01


class AuditLog:
    """Writes audit lines to ``destination`` (a path, or ``"-"`` for stdout).

    ``sample`` is the fraction of requests (0..1) whose inputs and outputs are logged too;
    ``max_bytes`` (``None``: never) the size at which the file is rotated, keeping ``keep`` old files;
    ``on_drop`` is called for every line that could not be written.
    """

    def __init__(self, destination: str, sample: float = 0.0, *, max_bytes: int | None = None, keep: int = 5,
                 on_drop: Callable[[], None] | None = None) -> None:
        self.destination = destination
        self.sample = sample
        self.max_bytes = max_bytes
        self.keep = keep
        self.on_drop = on_drop
        self.dropped = 0
        self._failing = False
        self._lock = threading.Lock()  # flock does not exclude this process's own threads
        self._fd, self._id = 1, None
        self._check_at = 0.0  # when to look again whether the path still names our file
        self._second: tuple[int, str] = (-1, "")  # (a second since the epoch, its text)
        if destination != "-":
            os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
            self._fd, self._id = self._open()

    def _open(self) -> tuple[int, tuple[int, int]]:
        fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        st = os.fstat(fd)
        return fd, (st.st_dev, st.st_ino)

    def _path_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.destination)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def reopen(self) -> None:
        """Open the path anew (after ``logrotate`` renamed the file; SIGUSR1 calls this)."""
        if self._id is None:
            return
        with self._lock:
            self._reopen_locked()

    def _reopen_locked(self) -> None:
        old = self._fd
        self._fd, self._id = self._open()
        os.close(old)

    def sampled(self) -> bool:
        """Whether this request's inputs and outputs go into the log."""
        return self.sample > 0.0 and (self.sample >= 1.0 or random.random() < self.sample)

    def write(self, entry: dict[str, Any]) -> None:
        """Append one line for ``entry`` (its ``time`` is set here); never raises for I/O."""
        entry["time"] = self._now()
        line = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        try:
            if self._id is None:
                if os.write(self._fd, line) != len(line):  # stdout: a pipe or terminal took part of it
                    raise OSError(errno.EAGAIN, "short write")
            else:
                with self._lock:
                    self._append(line)
        except OSError as exc:  # a full disk or closed stdout must not fail the prediction
            self._drop(exc)
            return
        if self._failing:
            self._failing = False
            log.warning("audit log %s is writable again (%d line(s) dropped so far)", self.destination, self.dropped)

    def _now(self) -> str:
        """The time as ``datetime.isoformat(timespec="milliseconds")`` writes it in UTC, formatting the
        date and clock once a second (a third of ``datetime``'s cost per line)."""
        second, rest = divmod(time.time_ns(), 1_000_000_000)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{cached[1]}.{rest // 1_000_000:03d}+00:00"

    def _append(self, line: bytes) -> None:
        now = time.monotonic()
        if now >= self._check_at:  # logrotate renamed or removed the file: open the new one
            self._check_at = now + RENAME_CHECK_SECONDS
            if self._path_id() != self._id:
                self._reopen_locked()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            written = os.write(self._fd, line)
            end = os.lseek(self._fd, 0, os.SEEK_CUR)  # O_APPEND left it after our bytes: the file's size
            if written != len(line):
                os.ftruncate(self._fd, end - written)  # the part that fit: no half line stays behind
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what the next write would say
            if self.max_bytes is not None and end >= self.max_bytes:
                if self._path_id() == self._id:
                    self._rotate()
                else:  # a sibling rotated it already (this line went to the rotated file): follow
                    self._reopen_locked()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _rotate(self) -> None:
        """Shift ``path.1`` ... to ``path.2`` ... (dropping the oldest beyond ``keep``), ``path`` to
        ``path.1``, and open a new ``path``; called with the file locked."""
        base = self.destination
        if self.keep < 1:
            os.unlink(base)
        else:
            for i in range(self.keep - 1, 0, -1):
                if os.path.exists(f"{base}.{i}"):
                    os.replace(f"{base}.{i}", f"{base}.{i + 1}")
            os.replace(base, f"{base}.1")
        fd, self._id = self._open()
        # the old descriptor is unlocked and closed by the caller's finally through self._fd: swap after
        old, self._fd = self._fd, fd
        fcntl.flock(old, fcntl.LOCK_UN)
        os.close(old)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # released by the caller

    def _drop(self, exc: OSError) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()
        if not self._failing:
            self._failing = True
            log.error("audit log %s: cannot write (%s); dropping lines (counted in "
                      "scorebridge_audit_dropped_total) until it can; scoring goes on", self.destination,
                      exc.strerror or exc)


def columns_for_log(columns: Columns | dict[str, Any]) -> dict[str, list]:
    """Column arrays as JSON-ready lists (missing values as ``null``)."""
    return {name: values.tolist() if hasattr(values, "tolist") else list(values)
            for name, values in columns.items()}
