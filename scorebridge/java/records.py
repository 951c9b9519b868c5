"""Input records for Java programs (tests, demo, benchmark): a bundle's verification rows as JSON-ready dicts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from scorebridge.bundle import Bundle


def _json_value(value: Any, dtype: str) -> Any:
    """NaN/None/NA -> None (missing); int64 inputs -> int (parquet holds them as float when some are missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "NaT"):
        return None
    if dtype == "int64":
        return int(value)
    if dtype == "float64":
        return float(value)
    if dtype == "bool":
        return bool(value)
    return str(value)


def verification_inputs(bundle: Bundle) -> list[dict[str, Any]]:
    """The inputs of ``verification.parquet``, one dict per row, keyed by input name in schema order."""
    inputs = bundle.manifest["inputs"]
    frame = bundle.read_verification()
    return [{spec["name"]: _json_value(rec[spec["name"]], spec["dtype"]) for spec in inputs}
            for rec in frame[[i["name"] for i in inputs]].to_dict("records")]


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    """One JSON object per line (the format the Java drivers read)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
