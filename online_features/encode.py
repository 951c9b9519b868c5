"""Vectorised encoding of a partition's rows into the layout's values (one JSON array per entity).

The per-row Python work of ``orjson.dumps(row)`` dominated a publish; here every column becomes
JSON text with pyarrow compute kernels (casts, joins) and only the distinct strings of a text
column go through :func:`orjson.dumps`, once each (dictionary encoding), so JSON escaping stays a
library's job. Floats are written in their shortest round-trip form (``float(text) == value`` bit
for bit; float32 widened to float64 first), always with a ``.`` or an exponent (``1.0``, ``-0.0``,
``1e+22``) so that a reader decodes them as floats; NaN, infinities and nulls are ``null``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from online_features.store import FeatureStoreError


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


NULL, DOT0, OPEN, CLOSE, COMMA, EMPTY = (_text(v) for v in ("null", ".0", "[", "]", ",", ""))


def json_column(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """One column as JSON text per row (``large_string``, no nulls); a one-line error for other types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ = column.type
    if pa.types.is_dictionary(typ):
        if pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type):
            return _json_strings(column)
        column, typ = column.cast(typ.value_type), typ.value_type
    if pa.types.is_floating(typ):
        return _json_floats(column)
    if pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        text = pc.cast(column, pa.large_string())
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return _json_strings(column.dictionary_encode())
    elif pa.types.is_null(typ):
        return pa.repeat(NULL, len(column))
    else:
        raise FeatureStoreError(f"feature column {name!r} has type {typ}: features are numbers, booleans or "
                                "strings")
    return pc.fill_null(text, NULL) if text.null_count else text


def _json_floats(column: pa.Array) -> pa.Array:
    column = pc.cast(column, pa.float64())
    text = pc.cast(column, pa.large_string())  # shortest round-trip digits: "1", "-0", "0.1", "1e+22"
    # a whole number ("1", "-0") gets ".0": JSON readers then decode a float, as the column is
    plain = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    text = pc.if_else(plain, pc.binary_join_element_wise(text, DOT0, EMPTY), text)
    finite = pc.is_finite(column)  # null for null, false for NaN and infinities
    return pc.if_else(pc.fill_null(finite, False), text, NULL)


def _json_strings(column: pa.DictionaryArray) -> pa.Array:
    words = [orjson.dumps(w) for w in column.dictionary.to_pylist()]
    dictionary = pa.array(words, pa.large_binary()).cast(pa.large_string())
    text = pc.take(dictionary, column.indices)
    return pc.fill_null(text, NULL) if text.null_count else text


def json_rows(table: pa.Table, features: Sequence[str]) -> pa.Array:
    """Every row's feature values as a JSON array in ``features`` order (``large_string``)."""
    if not len(features):
        return pa.repeat(_text("[]"), table.num_rows)
    parts = [json_column(table.column(f), f) for f in features]
    body = pc.binary_join_element_wise(*parts, COMMA) if len(parts) > 1 else parts[0]
    return pc.binary_join_element_wise(OPEN, body, CLOSE, EMPTY)


def as_bytes(array: pa.Array) -> np.ndarray:
    """An arrow string array as a NumPy object array of ``bytes`` (what the Redis client sends)."""
    typ = pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary()
    return array.cast(typ).to_numpy(zero_copy_only=False)
