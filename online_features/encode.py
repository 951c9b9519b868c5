"""Vectorised encoding of a partition's rows into the layout's values (one JSON array per entity).

``orjson.dumps(row)`` per row dominated a publish; here each column becomes JSON text in one go and
the rows are assembled by a pyarrow join, with no Python work per row:

- numbers and booleans: one ``orjson.dumps`` of the whole column as a NumPy array (its C writer
  emits shortest round-trip floats: ``float(text) == value`` bit for bit; float32 is widened to
  float64 first; NaN and infinities become ``null``), whose separators are then the boundaries of
  an Arrow string array built on that very buffer;
- integers or booleans with nulls: pyarrow's cast to text, nulls filled with ``null``;
- strings: dictionary encoding, and ``orjson.dumps`` once per *distinct* string, so JSON escaping
  stays a library's job.

Every column's piece carries its leading ``[`` (first feature) or ``,``, so the rows are one
``binary_join_element_wise`` of the pieces and a closing ``]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from online_features.store import FeatureStoreError

TEXT = pa.large_string()
NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, TEXT)


def json_column(column: pa.ChunkedArray | pa.Array, name: str, prefix: str = ",") -> pa.Array:
    """One column as JSON text per row, each value preceded by ``prefix`` (``large_string``, no
    nulls); a one-line error naming the column for other types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ = column.type
    if pa.types.is_dictionary(typ):
        if pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type):
            return _json_strings(column, prefix)
        column, typ = column.cast(typ.value_type), typ.value_type
    if len(column) == 0:
        return pa.array([], TEXT)
    if pa.types.is_floating(typ):  # nulls become NaN, which orjson writes as null
        return _json_numpy(column.cast(pa.float64()).to_numpy(zero_copy_only=False), prefix)
    if pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        if not column.null_count:
            return _json_numpy(column.to_numpy(zero_copy_only=False), prefix)
        text = pc.fill_null(pc.cast(column, TEXT), _text("null"))
        return pc.binary_join_element_wise(_text(prefix), text, _text(""))
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return _json_strings(column.dictionary_encode(), prefix)
    if pa.types.is_null(typ):
        return pa.repeat(_text(prefix + "null"), len(column))
    raise FeatureStoreError(f"feature column {name!r} has type {typ}: features are numbers, booleans or strings")


def _json_numpy(values: np.ndarray, prefix: str) -> pa.Array:
    """``orjson.dumps(values)`` (``[a,b,...]``) cut into ``prefix + a``, ``prefix + b``, ... in place:
    a number's text never holds a comma, so the commas are exactly the separators."""
    data = np.frombuffer(bytearray(orjson.dumps(values, option=NUMPY)), dtype=np.uint8)
    starts = np.flatnonzero(data == ord(","))
    data[0] = data[starts] = ord(prefix)  # the opening "[" and every "," become the prefix
    offsets = np.concatenate(([0], starts, [len(data) - 1])).astype(np.int64)  # the final "]" left out
    return pa.Array.from_buffers(TEXT, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _json_strings(column: pa.DictionaryArray, prefix: str) -> pa.Array:
    lead = prefix.encode()
    words = [lead + (orjson.dumps(w) if w is not None else b"null") for w in column.dictionary.to_pylist()]
    dictionary = pa.array(words, pa.large_binary()).cast(TEXT)
    text = pc.take(dictionary, column.indices)
    return pc.fill_null(text, _text(prefix + "null")) if text.null_count else text


def json_rows(table: pa.Table, features: Sequence[str]) -> pa.Array:
    """Every row's feature values as a JSON array in ``features`` order (``large_string``)."""
    if not len(features):
        return pa.repeat(_text("[]"), table.num_rows)
    parts = [json_column(table.column(f), f, "[" if i == 0 else ",") for i, f in enumerate(features)]
    return pc.binary_join_element_wise(*parts, _text("]"), _text(""))


def as_bytes(array: pa.Array) -> np.ndarray:
    """An arrow string array as a NumPy object array of ``bytes`` (what the Redis client sends)."""
    typ = pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary()
    return array.cast(typ).to_numpy(zero_copy_only=False)
