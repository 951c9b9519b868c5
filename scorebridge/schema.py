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
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TWO_63 = 2.0**63
_SMALL = 32


def first_non_integer(values: np.ndarray, originals: Sequence | None = None) -> int | None:
    """Index of the first present value of ``values`` (float64, NaN: missing) that is no int64 integer.

    A whole number of magnitude below 2**63 passes (``20.0``, ``2e1``); a fraction, an infinity or
    anything beyond int64 does not. float64 rounds the integers next to ±2**63 onto it, so where the
    caller's ``originals`` (the values as decoded) hold an exact Python ``int``, that one decides.
    """
    if originals is not None and len(originals) <= _SMALL:
        # a request of a few records: a loop over the decoded values costs a tenth of the ufuncs
        for i, v in enumerate(originals):
            if not (v is None or (type(v) is int and INT64_MIN <= v <= INT64_MAX)
                    or (type(v) is float and (v != v or (v.is_integer() and -_TWO_63 < v < _TWO_63)))):
                return i
        return None
    ok = np.abs(values) < _TWO_63  # NaN compares False: looked at below
    ok &= np.rint(values) == values
    if ok.all():
        return None
    for i in np.flatnonzero(~ok & ~np.isnan(values)).tolist():
        exact = originals[i] if originals is not None else None
        if not (type(exact) is int and INT64_MIN <= exact <= INT64_MAX):
            return i
    return None


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
        self._required = [f for f in self.fields if not f.nullable]
        # per field, what from_typed_lists does with it (worked out once, not per request)
        self._typed = [(f, f.is_numeric, f.dtype == "int64") for f in self.fields]

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
        columns = {f.name: _to_array(f, lists[f.name], numeric, integer) for f, numeric, integer in self._typed}
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
        return _to_array(f, values, f.is_numeric, f.dtype == "int64")

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
                    if f.dtype == "int64" and not pd.api.types.is_signed_integer_dtype(series):
                        _check_integers(f, columns[f.name], None)  # a float (or uint64) column: no cast
                else:
                    columns[f.name] = self._convert_list(f, [_none_if_na(v) for v in series.tolist()])
            else:
                values = series.astype(object).where(series.notna(), None).tolist()
                columns[f.name] = self._convert_list(f, values)
        self._check_values(columns)
        return columns

    def from_arrow(self, batch: Any, first_row: int = 0) -> Columns:
        """Validate a ``pyarrow.Table`` or ``RecordBatch`` into :data:`Columns`.

        ``first_row``: the batch's first row within its input, so an error names the input's row.
        """
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
                        or pa.types.is_null(typ) or pa.types.is_decimal(typ)):
                    raise SchemaError(f"column {f.name!r} is {typ}; the model expects numbers ({f.dtype})",
                                      field=f.name, code="invalid_type")
                if f.dtype == "int64" and typ == pa.uint64():
                    _check_uint64(f, col, first_row)
                # safe=False: an integer beyond 2**53 or a decimal rounds to the nearest float64, as
                # pandas and the native pipeline round it (a safe cast refuses them with a traceback)
                columns[f.name] = np.asarray(col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False),
                                             dtype=np.float64)
                if f.dtype == "int64" and not (pa.types.is_integer(typ) or pa.types.is_boolean(typ)):
                    # a float or decimal column for an integer field: checked, never cast
                    _check_integers(f, columns[f.name], None, first_row, "row")
            else:
                if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)
                        or pa.types.is_string_view(typ)):
                    raise SchemaError(f"column {f.name!r} is {typ}; the model expects strings",
                                      field=f.name, code="invalid_type")
                columns[f.name] = np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        self._check_values(columns, first_row, "row")
        return columns

    def read_csv(self, source: Any, **kwargs: Any):
        """Read CSV with the schema's types (string fields stay strings); returns a DataFrame."""
        import pandas as pd

        dtypes = {f.name: object for f in self.fields if not f.is_numeric}
        return pd.read_csv(source, dtype=dtypes, keep_default_na=True, **kwargs)

    def _check_values(self, columns: Columns, first: int = 0, noun: str = "record") -> None:
        """Every converter's last check: no missing value where the model takes none, and no value
        outside a strict field's categories."""
        self._check_nulls(columns, first, noun)
        for f, allowed in self._strict:
            values = columns[f.name].tolist()
            unseen = {v for v in set(values) - allowed if v is not None and v == v}  # missing is not unseen
            if unseen:
                idx = next(i for i, v in enumerate(values) if v in unseen)
                shown = ", ".join(map(repr, f.categories[:20])) + (" ..." if len(f.categories) > 20 else "")
                raise SchemaError(f"field {f.name!r} has {_shown(f, values[idx])} in {noun} {first + idx}, a category "
                                  f"the model did not see in training and cannot score (its encoder refuses unknown "
                                  f"categories); expected one of {shown}", field=f.name, record=first + idx,
                                  code="unknown_category")

    def _check_nulls(self, columns: Columns, first: int = 0, noun: str = "record") -> None:
        for f in self._required:
            col = columns[f.name]
            mask = np.isnan(col) if f.is_numeric else np.equal(col, None)
            if mask.any():
                idx = int(np.argmax(mask))
                raise SchemaError(f"field {f.name!r} may not be missing ({noun} {first + idx}): the model has no "
                                  "imputer for it", field=f.name, record=first + idx, code="missing_value")

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


def _to_array(f: Field, values: list, numeric: bool, integer: bool) -> np.ndarray:
    """A field's values (already of its types) as its column; ``numeric`` and ``integer`` say what
    ``f`` is (precomputed per schema: the request path asks once per model, not per field and call)."""
    if numeric:
        arr = np.array(values, dtype=np.float64)  # None -> NaN
        if integer:
            _check_integers(f, arr, values)
        return arr
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _check_uint64(f: Field, col: Any, first: int) -> None:
    """A uint64 column for an ``int64`` field: its values beyond int64 are refused (exactly, not as floats)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    beyond = pc.greater(col, pa.scalar(INT64_MAX, pa.uint64()))
    if pc.any(beyond).as_py():
        i = pc.index(beyond, True).as_py()
        raise SchemaError(f"field {f.name!r} expects an integer within int64 ({INT64_MIN} to {INT64_MAX}), got "
                          f"{col[i].as_py()} in row {first + i}", field=f.name, record=first + i, code="out_of_range")


def _check_integers(f: Field, values: np.ndarray, originals: Sequence | None, first: int = 0,
                    noun: str = "record") -> None:
    """A 400-style :class:`SchemaError` naming the first value of an ``int64`` field that is no integer.

    The native pipeline would compute with ``20.6`` (a split at 20.5 flips), so a fraction is refused,
    never truncated (JPMML answers an invalid value of an integer field with an error too); a whole
    number sent as ``20.0`` or ``2e1`` is the integer it equals.
    """
    i = first_non_integer(values, originals)
    if i is None:
        return
    value = originals[i] if originals is not None else float(values[i])
    if isinstance(value, float) and np.isfinite(value) and abs(value) < _TWO_63:
        raise SchemaError(f"field {f.name!r} expects an integer, got {value!r} in {noun} {first + i}",
                          field=f.name, record=first + i, code="invalid_type")
    raise SchemaError(f"field {f.name!r} expects an integer within int64 ({INT64_MIN} to {INT64_MAX}), got "
                      f"{value!r} in {noun} {first + i}", field=f.name, record=first + i, code="out_of_range")


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
