"""The audit log's file handling in-process: time stamps, noticing a rename, size rotation between
two writers (two open descriptions of one path, as two workers have). The server-level tests
(logrotate, full disk, ``ulimit -f``, rotation under load) are in test_operations.py."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from scoring_service.audit import RENAME_CHECK_SECONDS, AuditLog


def _ids(*paths: Path) -> list[int]:
    return [json.loads(line)["n"] for p in paths if p.exists() for line in p.read_text().splitlines()]


def test_time_is_utc_iso_milliseconds(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.jsonl"))
    before = datetime.now(UTC).isoformat(timespec="milliseconds")
    entry: dict = {"n": 0}
    audit.write(entry)
    after = datetime.now(UTC).isoformat(timespec="milliseconds")
    assert before <= entry["time"] <= after
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0
    assert len(entry["time"]) == len("2026-12-02T07:48:38.593+00:00")


def test_a_rename_is_followed_within_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(str(path))
    audit.write({"n": 0})
    os.rename(path, tmp_path / "audit.jsonl.1")  # what logrotate does
    audit.write({"n": 1})  # may still land in the renamed file: not lost
    time.sleep(RENAME_CHECK_SECONDS * 2)
    audit.write({"n": 2})
    assert _ids(path)[-1] == 2  # the new file, at the latest once the interval has passed
    assert sorted(_ids(path, tmp_path / "audit.jsonl.1")) == [0, 1, 2]


def test_size_rotation_between_two_writers_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    a, b = (AuditLog(str(path), max_bytes=1000, keep=50) for _ in range(2))
    for n in range(200):
        (a if n % 3 else b).write({"n": n, "pad": "x" * 40})
    rotated = sorted(tmp_path.glob("audit.jsonl.*"), key=lambda p: int(p.suffix[1:]))
    assert len(rotated) >= 10
    line = len(path.read_text().splitlines()[0]) + 1
    for f in rotated:  # rotated by the line that took it past the limit, plus one line of the sibling at most
        assert 1000 <= f.stat().st_size <= 1000 + 2 * line, (f.name, f.stat().st_size)
    assert sorted(_ids(path, *rotated)) == list(range(200))
    assert a.dropped == b.dropped == 0
