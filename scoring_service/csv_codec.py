"""CSV request bodies in, CSV answers out (``Content-Type: text/csv`` on the v1 predict paths).

CSV has no types, so the reader gives it JSON's: a numeric field takes a number (or a missing-value
token), never ``true``; a boolean field takes ``true``/``false`` or a number; a string field takes
any text. Every record must have exactly the header's cells: pandas would take an extra cell as
the row's index and score the row shifted by one column, and pad a short row with missing values,
both answered 200. So the structure is read with the standard library's C ``csv`` reader and each
record checked, and a bad record gets a 400 naming it (and the field, for a bad cell).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
import pandas as pd

from scorebridge.prediction import Prediction, csv_ready
from scorebridge.schema import Columns, InputSchema
from scoring_service.errors import ApiError
from scoring_service.finite import check_range

if TYPE_CHECKING:
    from scoring_service.features import FeatureBinding

CSV_TYPES = ("text/csv", "application/csv")

# pandas' default missing-value spellings, which ``scorebridge predict`` reads as missing too
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
# a decimal number as spreadsheets and pandas write them (JSON's grammar, plus "+1", ".5", "5."),
# or infinity, which the engines see as a number (and refuse where a model cannot take it)
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*|\s*[+-]?(?:inf|infinity)\s*", re.IGNORECASE)
_TRUE, _FALSE = frozenset({"true", "True", "TRUE"}), frozenset({"false", "False", "FALSE"})


def parse_keep(text: str | None) -> list[str]:
    """The ``?keep=`` column list."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _rows(body: bytes) -> list[list[str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_csv",
                       f"the CSV body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise ApiError(400, "invalid_csv", f"cannot parse the CSV body: {exc}") from None


def read_csv(schema: InputSchema, body: bytes, keep: Sequence[str], limit: int,
             binding: FeatureBinding | None = None) -> tuple[dict[str, list[str]], Columns, list | None]:
    """CSV body -> (the ``keep`` columns as sent, validated columns, the ``features`` annotations).

    The first row is the header: it must name every model input (other columns are ignored, or
    carried over with ``keep``); every later non-blank row is a record with one cell per header column.
    With ``binding``, a header naming its entity key may leave inputs out: each row's absent inputs
    come from the store (:mod:`scoring_service.features`); the annotations are ``None`` otherwise.
    """
    rows = _rows(body)
    if not rows:
        raise ApiError(400, "empty", "the CSV body is empty: send a header row and at least one record",
                       field="records")
    header, records = rows[0], rows[1:]
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in position:
            raise ApiError(400, "invalid_csv", f"the CSV header names column {name!r} twice", field=name)
        position[name] = i
    entity = binding.entity if binding is not None else None
    keyed = entity is not None and entity in position
    missing = [n for n in schema.names if n not in position]
    if missing and not keyed:
        raise ApiError(400, "missing_field", f"the CSV header lacks column(s) {', '.join(map(repr, missing))}; the "
                       f"model needs {', '.join(schema.names)}", field=missing[0])
    absent = [c for c in keep if c not in position]
    if absent:
        raise ApiError(400, "missing_field", f"?keep= names column(s) the CSV lacks: {', '.join(absent)}",
                       field=absent[0])
    if not records:
        raise ApiError(400, "empty", "the CSV body has a header but no records", field="records")
    if len(records) > limit:
        raise ApiError(413, "too_many_records", f"{len(records)} records in one request; the limit is {limit} "
                       "(split the batch)", field="records")
    width = len(header)
    for i, row in enumerate(records):
        if len(row) != width:
            raise ApiError(400, "invalid_csv", f"record {i} has {len(row)} cell(s) where the header has {width}: "
                           "every record needs one cell per header column (quote cells that hold commas)", record=i)
    lists = {}
    for f in schema.fields:
        if f.name in position:
            cells = [row[position[f.name]] for row in records]
            lists[f.name] = _typed(f.name, f.dtype, cells)
    kept = {c: [row[position[c]] for row in records] for c in keep}
    if not keyed:
        return kept, check_range(schema, schema.from_typed_lists(lists)), None
    cells = [row[position[entity]] for row in records]
    keys = binding.keys_of([None if c in MISSING else c for c in cells], list(range(len(cells))))
    names = list(lists)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*lists.values(), strict=True)] if names \
        else [{} for _ in records]
    columns, notes = binding.fill(schema, rows, list(range(len(rows))), keys)
    return kept, columns, notes


def _typed(name: str, dtype: str, cells: list[str]) -> list:
    """One column's cells as the values a JSON record would carry (``None`` for missing)."""
    present = [c for c in cells if c not in MISSING]
    if dtype == "string":
        return [None if c in MISSING else c for c in cells]
    if dtype == "bool":
        return [None if c in MISSING else True if c in _TRUE else False if c in _FALSE else _number(name, c, cells)
                for c in cells]
    try:  # the common case in one C call: every present cell is a JSON number
        numbers = orjson.loads(b"[" + ",".join(present).encode() + b"]") if present else []
    except orjson.JSONDecodeError:
        numbers = None
    # a cell such as "[1]", "true" or '"1"' parses too, as something other than a number
    if numbers is None or len(numbers) != len(present) or not set(map(type, numbers)) <= {int, float}:
        numbers = [_number(name, c, cells) for c in present]
    it = iter(numbers)
    return [None if c in MISSING else next(it) for c in cells]


def _number(name: str, cell: str, cells: list[str]) -> float:
    if _NUMBER.fullmatch(cell):
        return float(cell)
    record = cells.index(cell)
    raise ApiError(400, "invalid_type", f"field {name!r} expects a number or a missing value, got {cell!r} in record "
                   f"{record}", field=name, record=record)


def write_csv(prediction: Prediction, kept: dict[str, list[str]], notes: list | None = None) -> bytes:
    """The ``scorebridge predict`` output columns, with the ``keep`` columns (as sent) in front, and for
    a keyed request the ``features`` annotation as ``feature_batch``, ``feature_fallback``, ``feature_error``."""
    out = prediction.to_frame()
    if notes is not None:
        out["feature_batch"] = [n["batch"] for n in notes]
        out["feature_fallback"] = [n.get("fallback", False) for n in notes]
        out["feature_error"] = [n.get("error") for n in notes]
    if kept:
        out = pd.concat([pd.DataFrame(kept, dtype=object), out], axis=1)
    return csv_ready(out).to_csv(index=False).encode()
