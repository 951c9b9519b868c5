"""The input schema: ordered, typed fields, and validation of callers' data at the boundary.

Every engine scores a :data:`Columns` mapping (one NumPy array per input field, in schema order):
numeric fields (``float64``, ``int64``, ``bool``) as ``float64`` arrays with ``NaN`` for missing,
string fields as ``object`` arrays with ``None`` for missing. The converters here build it from JSON
records, pandas DataFrames, CSV text and Arrow batches, and reject bad input with a
:class:`~scorebridge.errors.SchemaError` that names the field and the record.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scorebridge.errors import SchemaError

Columns = dict[str, np.ndarray]

DTYPES = ("float64", "int64", "string", "bool")
OPTYPES = ("continuous", "categorical")
_NUMERIC_TYPES = frozenset({float, int, type(None)})
_BOOL_TYPES = frozenset({bool, int, float, type(None)})
_STRING_TYPES = frozenset({str, type(None)})


@dataclass(frozen=True)
class Field:
    """One input field of a model."""

    name: str
    dtype: str
    optype: str
    categories: tuple | None = None
    nullable: bool = True
    strict: bool = False  # only the categories are accepted: the model cannot score an unseen one

    @property
    def is_numeric(self) -> bool:
        return self.dtype != "string"

    def to_manifest(self) -> dict[str, Any]:
        entry = {"name": self.name, "dtype": self.dtype, "optype": self.optype,
                 "categories": list(self.categories) if self.categories is not None else None,
                 "nullable": self.nullable}
        if self.strict:  # written only when set: bundles without it read as before
            entry["strict"] = True
        return entry


class InputSchema:
    """An ordered list of :class:`Field`; converts and validates inputs into :data:`Columns`."""

    def __init__(self, fields: Sequence[Field]) -> None:
        self.fields = list(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.names = [f.name for f in self.fields]
        self._category_sets = {f.name: frozenset(f.categories) for f in self.fields
                               if f.optype == "categorical" and f.categories is not None}
        # strict fields: numeric categories compared as the float64 values the columns hold
        self._strict = [(f, frozenset(float(c) for c in f.categories) if f.is_numeric else self._category_sets[f.name])
                        for f in self.fields if f.strict and f.categories is not None]

    @classmethod
    def from_manifest(cls, inputs: Sequence[Mapping[str, Any]]) -> InputSchema:
        fields = []
        for entry in inputs:
            if entry.get("dtype") not in DTYPES or entry.get("optype") not in OPTYPES:
                raise SchemaError(f"manifest input {entry.get('name')!r}: dtype must be one of {DTYPES} "
                                  f"and optype one of {OPTYPES}", field=entry.get("name"))
            cats = entry.get("categories")
            strict = bool(entry.get("strict", False))
            if strict and cats is None:
                raise SchemaError(f"manifest input {entry.get('name')!r} is strict but lists no categories",
                                  field=entry.get("name"))
            fields.append(Field(entry["name"], entry["dtype"], entry["optype"],
                                tuple(cats) if cats is not None else None, bool(entry.get("nullable", True)),
                                strict))
        return cls(fields)

    def to_manifest(self) -> list[dict[str, Any]]:
        return [f.to_manifest() for f in self.fields]

    def __len__(self) -> int:
        return len(self.fields)

    # -- converters ---------------------------------------------------------------------------
    def from_records(self, records: Any) -> Columns:
        """Validate JSON-style records (a non-empty list of objects) into :data:`Columns`.

        An absent key is an error (``missing_field``); ``null`` or ``NaN`` is a missing value.
        """
        if not isinstance(records, list):
            raise SchemaError("'records' must be a list of objects", field="records", code="invalid_request")
        if not records:
            raise SchemaError("'records' is empty: send at least one record", field="records", code="empty")
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise SchemaError(f"record {i} is {type(rec).__name__}, expected an object",
                                  record=i, code="invalid_request")
        columns: Columns = {}
        for f in self.fields:
            name = f.name
            try:
                values = list(map(operator.itemgetter(name), records))  # ~2x a comprehension
            except KeyError:
                idx = next(i for i, rec in enumerate(records) if name not in rec)
                raise SchemaError(f"record {idx} lacks required field {name!r} (send null for a missing value)",
                                  field=name, record=idx, code="missing_field") from None
            columns[name] = self._convert_list(f, values)
        self._check_values(columns)
        return columns

    def from_typed_lists(self, lists: Mapping[str, list]) -> Columns:
        """:data:`Columns` from one list per field whose value types a typed decoder already checked
        (numbers, booleans or ``None`` for numeric fields, strings or ``None`` for string fields).

        Only the conversion and the not-nullable check run here; :meth:`from_records` is the
        validating path and the one that explains a bad value.
        """
        columns = {f.name: self._to_array(f, lists[f.name]) for f in self.fields}
        self._check_values(columns)
        return columns

    def _convert_list(self, f: Field, values: list) -> np.ndarray:
        allowed = _STRING_TYPES if not f.is_numeric else (_BOOL_TYPES if f.dtype == "bool" else _NUMERIC_TYPES)
        types = set(map(type, values))
        if not types <= allowed:
            idx, bad = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
            want = "a string" if not f.is_numeric else ("a boolean" if f.dtype == "bool" else "a number")
            raise SchemaError(f"field {f.name!r} expects {want} or null, got {bad!r} in record {idx}",
                              field=f.name, record=idx, code="invalid_type")
        return self._to_array(f, values)

    @staticmethod
    def _to_array(f: Field, values: list) -> np.ndarray:
        if f.is_numeric:
            return np.array(values, dtype=np.float64)  # None -> NaN
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr

    def from_frame(self, frame: Any) -> Columns:
        """Validate a pandas DataFrame (extra columns are ignored) into :data:`Columns`."""
        import pandas as pd

        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise SchemaError(f"input lacks column(s) {', '.join(map(repr, missing))}; the model needs "
                              f"{', '.join(self.names)}", field=missing[0], code="missing_field")
        columns: Columns = {}
        for f in self.fields:
            series = frame[f.name]
            if f.is_numeric:
                if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
                    columns[f.name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    columns[f.name] = self._convert_list(f, [_none_if_na(v) for v in series.tolist()])
            else:
                values = series.astype(object).where(series.notna(), None).tolist()
                columns[f.name] = self._convert_list(f, values)
        self._check_values(columns)
        return columns

    def from_arrow(self, batch: Any) -> Columns:
        """Validate a ``pyarrow.Table`` or ``RecordBatch`` into :data:`Columns`."""
        import pyarrow as pa

        names = batch.schema.names
        missing = [n for n in self.names if n not in names]
        if missing:
            raise SchemaError(f"input lacks column(s) {', '.join(map(repr, missing))}; the model needs "
                              f"{', '.join(self.names)}", field=missing[0], code="missing_field")
        columns: Columns = {}
        for f in self.fields:
            col = batch.column(names.index(f.name))
            typ = col.type
            if pa.types.is_dictionary(typ):
                col, typ = col.cast(typ.value_type), typ.value_type
            if f.is_numeric:
                if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
                        or pa.types.is_null(typ)):
                    raise SchemaError(f"column {f.name!r} is {typ}; the model expects numbers ({f.dtype})",
                                      field=f.name, code="invalid_type")
                columns[f.name] = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False),
                                             dtype=np.float64)
            else:
                if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)
                        or pa.types.is_string_view(typ)):
                    raise SchemaError(f"column {f.name!r} is {typ}; the model expects strings",
                                      field=f.name, code="invalid_type")
                columns[f.name] = np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        self._check_values(columns)
        return columns

    def read_csv(self, source: Any, **kwargs: Any):
        """Read CSV with the schema's types (string fields stay strings); returns a DataFrame."""
        import pandas as pd

        dtypes = {f.name: object for f in self.fields if not f.is_numeric}
        return pd.read_csv(source, dtype=dtypes, keep_default_na=True, **kwargs)

    def _check_values(self, columns: Columns) -> None:
        """Every converter's last check: no missing value where the model takes none, and no value
        outside a strict field's categories."""
        self._check_nulls(columns)
        for f, allowed in self._strict:
            values = columns[f.name].tolist()
            unseen = {v for v in set(values) - allowed if v is not None and v == v}  # missing is not unseen
            if unseen:
                idx = next(i for i, v in enumerate(values) if v in unseen)
                shown = ", ".join(map(repr, f.categories[:20])) + (" ..." if len(f.categories) > 20 else "")
                raise SchemaError(f"field {f.name!r} has {_shown(f, values[idx])} in record {idx}, a category the "
                                  f"model did not see in training and cannot score (its encoder refuses unknown "
                                  f"categories); expected one of {shown}", field=f.name, record=idx,
                                  code="unknown_category")

    def _check_nulls(self, columns: Columns) -> None:
        for f in self.fields:
            if f.nullable:
                continue
            col = columns[f.name]
            mask = np.isnan(col) if f.is_numeric else np.equal(col, None)
            if mask.any():
                idx = int(np.argmax(mask))
                raise SchemaError(f"field {f.name!r} may not be missing (record {idx}): the model has no "
                                  "imputer for it", field=f.name, record=idx, code="missing_value")

    # -- helpers for engines ------------------------------------------------------------------
    def count_unseen(self, columns: Columns) -> dict[str, int]:
        """Per categorical field, how many present values were not seen in training."""
        counts = {}
        for name, cats in self._category_sets.items():
            values = columns[name].tolist()
            # one C-level set build settles the common case (nothing unseen) without a Python loop
            # a missing value (None, or NaN in a numeric field) is not an unseen category
            unseen = {v for v in set(values) - cats if v is not None and v == v}
            if unseen:  # few distinct unseen values: one C-level list.count each beats a loop over rows
                counts[name] = sum(map(values.count, unseen))
        return counts

    def to_frame(self, columns: Columns):
        """A pandas DataFrame as the native pipeline expects it (missing values as ``NaN``)."""
        import pandas as pd

        data = {}
        for f in self.fields:
            col = columns[f.name]
            if f.is_numeric:
                data[f.name] = col
            else:
                out = col.copy()
                out[np.equal(out, None)] = np.nan
                data[f.name] = pd.Series(out, dtype=object)
        return pd.DataFrame(data)


def _shown(f: Field, value: Any) -> str:
    """A refused value as the caller sent it (an int64 field's 7.0 is 7)."""
    if f.is_numeric and f.dtype != "float64" and float(value).is_integer():
        return repr(int(value)) if f.dtype == "int64" else repr(bool(value))
    return repr(value)


def rows_in(columns: Columns) -> int:
    """Number of rows in a :data:`Columns` mapping."""
    return len(next(iter(columns.values()))) if columns else 0


def _none_if_na(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value
