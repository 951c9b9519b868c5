"""Run progress: a redrawn bar on a terminal, periodic log lines otherwise (cron mail, CI logs)."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("batch_jobs")


class Progress:
    """Counts scored rows; call :meth:`advance` per batch and :meth:`close` at the end."""

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None,
                 tty: bool | None = None, log_every: float = 10.0) -> None:
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self.rows = 0
        self.start = self._last = time.monotonic()

    def advance(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self._last >= (0.2 if self.tty else self.log_every):
            self._last = now
            self._emit(now)

    def _emit(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.rows / elapsed
        if self.tty:
            if self.total:
                frac = min(self.rows / self.total, 1.0)
                bar = "#" * int(frac * 30)
                text = f"\r{self.label} [{bar:<30}] {frac:6.1%} {self.rows:,}/{self.total:,} rows {rate:,.0f} rows/s"
            else:
                text = f"\r{self.label} {self.rows:,} rows {rate:,.0f} rows/s"
            self.stream.write(text + ("\n" if final else ""))
            self.stream.flush()
        else:
            of = f"/{self.total:,}" if self.total else ""
            log.info("%s: %s%s rows scored (%.0f rows/s, %.1fs)", self.label, f"{self.rows:,}", of, rate, elapsed)

    def close(self) -> None:
        self._emit(time.monotonic(), final=True)
