"""Run history: one SQLite row per run (manual, backfill or scheduled), read by ``batch status``.

A run is recorded as ``running`` when it starts and updated when it ends, so a run killed outright
stays ``running`` with its pid; :meth:`RunHistory.recent` reports it as ``killed`` once that pid is
gone from this host.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

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
"""


class RunHistory:
    """The history database of a job's ``state_dir`` (``history.sqlite``)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "history.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        return conn

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
        host = socket.gethostname()
        for row in rows:
            if row["status"] == "running" and row["host"] == host and not pid_alive(row["pid"]):
                row["status"] = "killed"
        return rows
