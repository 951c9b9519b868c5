"""Run history: one SQLite row per run (manual, backfill or scheduled), read by ``batch status``.

A run is recorded as ``running`` when it starts and updated when it ends, so a run killed outright
stays ``running`` with its pid; :meth:`RunHistory.recent` reports it as ``killed`` once that pid is
gone from this host, and :meth:`RunHistory.reap` records it so. A database that cannot be opened or
written (a read-only or full ``state_dir``) fails with a one-line :class:`BatchError`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batch_jobs.errors import BatchError
from batch_jobs.failures import one_line
from scorebridge.process import pid_alive

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    ds TEXT NOT NULL,
    trigger TEXT NOT NULL,
    engine TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    rows_in INTEGER,
    rows_out INTEGER,
    model TEXT,
    output TEXT,
    message TEXT,
    host TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, id);
CREATE TABLE IF NOT EXISTS scheduled (
    job TEXT PRIMARY KEY,
    since REAL NOT NULL
);
"""


class RunHistory:
    """The history database of a job's ``state_dir`` (``history.sqlite``)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "history.sqlite"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction (committed on success), closed afterwards."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise BatchError(f"cannot open the run history {self.path}: {one_line(exc)}") from None
        try:
            conn.row_factory = sqlite3.Row
            with conn:
                conn.executescript(_SCHEMA)
                yield conn
        except sqlite3.Error as exc:
            raise BatchError(f"cannot update the run history {self.path}: {one_line(exc)}") from None
        finally:
            conn.close()

    def start(self, job: str, ds: str, trigger: str, engine: str, attempt: int = 1) -> int:
        """Record a run as started; returns its id."""
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO runs (job, ds, trigger, engine, attempt, status, started_at, host, pid) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (job, ds, trigger, engine, attempt, time.time(), socket.gethostname(), os.getpid()))
            return int(cur.lastrowid)

    def finish(self, run_id: int, status: str, *, rows_in: int | None = None, rows_out: int | None = None,
               model: str | None = None, output: str | None = None, message: str | None = None) -> None:
        """Record a run's outcome (``success``, ``failed`` or ``cancelled``)."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, rows_in = ?, rows_out = ?, model = ?, "
                "output = ?, message = ? WHERE id = ?",
                (status, time.time(), rows_in, rows_out, model, output, message, run_id))

    def recent(self, job: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs of ``job``, newest first."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT * FROM runs WHERE job = ? ORDER BY id DESC LIMIT ?", (job, limit))]
        return [_mark_killed(row) for row in rows]

    def by_date(self, job: str, dates: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The runs of ``job`` for each of ``dates`` (newest first; a date without runs maps to ``[]``)."""
        dates = list(dict.fromkeys(dates))
        out: dict[str, list[dict[str, Any]]] = {ds: [] for ds in dates}
        if not dates or not self.path.exists():
            return out
        with self._connect() as conn:
            marks = ", ".join("?" * len(dates))
            for row in conn.execute(f"SELECT * FROM runs WHERE job = ? AND ds IN ({marks}) ORDER BY id DESC",
                                    (job, *dates)):
                out[row["ds"]].append(_mark_killed(dict(row)))
        return out

    def scheduled_since(self, job: str, *, record: float | None = None) -> float | None:
        """When a scheduler first took ``job`` on (epoch seconds), or None if none has.

        With ``record``, that time is stored unless one is stored already: the first start wins.
        """
        if record is None and not self.path.exists():
            return None
        with self._connect() as conn:
            if record is not None:
                conn.execute("INSERT OR IGNORE INTO scheduled (job, since) VALUES (?, ?)", (job, record))
            row = conn.execute("SELECT since FROM scheduled WHERE job = ?", (job,)).fetchone()
        return None if row is None else float(row["since"])

    def reap(self, job: str) -> int:
        """Record the runs of ``job`` left ``running`` by a process gone from this host as ``killed``."""
        if not self.path.exists():
            return 0
        host = socket.gethostname()
        with self._connect() as conn:
            dead = [(r["id"], r["pid"]) for r in conn.execute(
                "SELECT id, pid FROM runs WHERE job = ? AND status = 'running' AND host = ?", (job, host))
                if not pid_alive(r["pid"])]
            for run_id, pid in dead:
                conn.execute("UPDATE runs SET status = 'killed', finished_at = ?, message = ? "
                             "WHERE id = ? AND status = 'running'",
                             (time.time(), f"process {pid} ended without recording an outcome (killed)", run_id))
        return len(dead)


def _mark_killed(row: dict[str, Any]) -> dict[str, Any]:
    """Report a ``running`` row whose process is gone from this host as ``killed``."""
    if row["status"] == "running" and row["host"] == socket.gethostname() and not pid_alive(row["pid"]):
        row["status"] = "killed"
    return row


def in_progress(row: dict[str, Any]) -> bool:
    """Whether ``row`` is a run still going on in a live process of this host."""
    return row["status"] == "running" and row["host"] == socket.gethostname() and pid_alive(row["pid"])
