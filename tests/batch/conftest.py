"""Fixtures for the batch job tests: real bundles, real partitions on disk, real job files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from batch_jobs.demo import write_sample_partition
from scorebridge.bundle import Bundle

DS = "2026-11-21"
ROOT = Path(__file__).resolve().parents[2]


def toml_value(value: Any) -> str:
    """Render a scalar or list as TOML (json quoting is valid TOML for these strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def render_toml(doc: dict[str, Any]) -> str:
    """A small TOML writer for job files: top-level scalars, then one level of tables (and sub-tables)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for table, body in doc.items():
        if isinstance(body, dict):
            lines.append(f"\n[{table}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items() if not isinstance(v, dict)]
            for sub, sub_body in body.items():
                if isinstance(sub_body, dict):
                    lines.append(f"\n[{table}.{sub}]")
                    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in sub_body.items()]
    return "\n".join(lines) + "\n"


def job_doc(model: str | Path, /, **tables: Any) -> dict[str, Any]:
    """A job document like the issue's example (fast waits), with per-table overrides merged in."""
    doc: dict[str, Any] = {
        "name": "credit_nightly", "model": str(model), "engine": "local",
        "input": {"path": "warehouse/features/dt={ds}", "format": "parquet", "wait_for_success": True,
                  "wait_timeout": "0s", "poll_interval": "0.1s"},
        "output": {"path": "warehouse/scores", "keep_columns": ["user_id"]},
        "schedule": {"cron": "0 5 * * *", "timezone": "Asia/Shanghai", "lag_days": 1, "retries": 2,
                     "retry_delay": "10m"},
    }
    for key, value in tables.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return {k: v for k, v in doc.items() if v is not None}


@pytest.fixture
def write_job(tmp_path: Path) -> Callable[..., Path]:
    """``write_job(doc, name="job.toml")`` writes a job file into the test's directory."""
    def write(doc: dict[str, Any], name: str = "job.toml") -> Path:
        path = tmp_path / name
        path.write_text(render_toml(doc))
        return path
    return write


@pytest.fixture
def partition(tmp_path: Path, credit_bundle: Bundle) -> Callable[..., pa.Table]:
    """``partition(ds, rows=None, success=True)`` writes an input partition of the credit sample."""
    def write(ds: str = DS, rows: int | None = None, success: bool = True, seed: int = 0) -> pa.Table:
        return write_sample_partition(credit_bundle, tmp_path / "warehouse" / "features" / f"dt={ds}", rows,
                                      success=success, seed=seed)
    return write


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m scorebridge ARGS`` and capture its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "scorebridge", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
