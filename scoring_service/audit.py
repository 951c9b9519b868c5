"""Audit log: one JSON line per prediction request, optionally with sampled inputs and outputs.

Each line is written with a single ``write`` on a file opened with ``O_APPEND`` (or on stdout), so
lines from several threads and workers never interleave.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from typing import Any

import orjson

from scorebridge.schema import Columns


class AuditLog:
    """Writes audit lines to ``destination`` (a path, or ``"-"`` for stdout).

    ``sample`` is the fraction of requests (0..1) whose inputs and outputs are logged too.
    """

    def __init__(self, destination: str, sample: float = 0.0) -> None:
        self.destination = destination
        self.sample = sample
        if destination == "-":
            self._fd = 1
        else:
            os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
            self._fd = os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def sampled(self) -> bool:
        """Whether this request's inputs and outputs go into the log."""
        return self.sample > 0.0 and (self.sample >= 1.0 or random.random() < self.sample)

    def write(self, entry: dict[str, Any]) -> None:
        entry["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            os.write(self._fd, orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        except OSError:  # a full disk or closed stdout must not fail the prediction
            pass


def columns_for_log(columns: Columns | dict[str, Any]) -> dict[str, list]:
    """Column arrays as JSON-ready lists (missing values as ``null``)."""
    return {name: values.tolist() if hasattr(values, "tolist") else list(values)
            for name, values in columns.items()}
