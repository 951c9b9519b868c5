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


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ)


def check_feature_type(typ: pa.DataType, name: str) -> None:
    """A one-line error naming a feature column whose type cannot be published (dates, lists, ...)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if not (pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ) or _is_text(typ)
            or pa.types.is_null(typ)):
        raise FeatureStoreError(f"feature column {name!r} has type {typ}: features are numbers, booleans or "
                                "strings")


def json_column(column: pa.ChunkedArray | pa.Array, name: str, prefix: str = ",") -> pa.Array:
    """One column as JSON text per row, each value preceded by ``prefix`` (``large_string``, no
    nulls); a one-line error naming the column for other types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ = column.type
    check_feature_type(typ, name)
    if pa.types.is_dictionary(typ):
        if _is_text(typ.value_type):
            return _take_words(_json_words(column.dictionary, prefix), column.indices, prefix)
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
    if _is_text(typ):
        return json_column(column.dictionary_encode(), name, prefix)
    return pa.repeat(_text(prefix + "null"), len(column))  # the null type


def _json_numpy(values: np.ndarray, prefix: str) -> pa.Array:
    """``orjson.dumps(values)`` (``[a,b,...]``) cut into ``prefix + a``, ``prefix + b``, ... in place:
    a number's text never holds a comma, so the commas are exactly the separators."""
    data = np.frombuffer(bytearray(orjson.dumps(values, option=NUMPY)), dtype=np.uint8)
    starts = np.flatnonzero(data == ord(","))
    data[0] = data[starts] = ord(prefix)  # the opening "[" and every "," become the prefix
    offsets = np.concatenate(([0], starts, [len(data) - 1])).astype(np.int64)  # the final "]" left out
    return pa.Array.from_buffers(TEXT, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _json_words(dictionary: pa.Array, prefix: str) -> pa.Array:
    """``prefix + orjson.dumps(word)`` for each word of a dictionary (once per distinct string)."""
    lead = prefix.encode()
    words = [lead + (orjson.dumps(w) if w is not None else b"null") for w in dictionary.to_pylist()]
    return pa.array(words, pa.large_binary()).cast(TEXT)


def _take_words(words: pa.Array, indices: pa.Array, prefix: str) -> pa.Array:
    text = pc.take(words, indices)
    return pc.fill_null(text, _text(prefix + "null")) if text.null_count else text


class RowEncoder:
    """Encodes any subset of a table's rows as JSON arrays in ``features`` order; checks every
    column's type up front. A text column is dictionary-encoded once for the whole table, so each
    distinct string is escaped once however many subsets are encoded."""

    def __init__(self, table: pa.Table, features: Sequence[str]) -> None:
        self.parts: list[tuple[str, str, pa.Array, pa.Array | None]] = []
        for i, name in enumerate(features):
            column = table.column(name).combine_chunks()
            check_feature_type(column.type, name)
            prefix = "[" if i == 0 else ","
            typ = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
            if _is_text(typ):
                coded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
                self.parts.append((name, prefix, coded.indices, _json_words(coded.dictionary, prefix)))
            else:
                self.parts.append((name, prefix, column, None))

    def rows(self, index: np.ndarray | None = None) -> pa.Array:
        """The JSON rows of ``index`` (row numbers; default every row), ``large_string``."""
        if not self.parts:
            raise FeatureStoreError("features: a feature set publishes at least one feature column")
        take = None if index is None else pa.array(index, pa.int64())
        pieces = []
        for name, prefix, column, words in self.parts:
            sub = column if take is None else column.take(take)
            pieces.append(json_column(sub, name, prefix) if words is None else _take_words(words, sub, prefix))
        return pc.binary_join_element_wise(*pieces, _text("]"), _text(""))


def json_rows(table: pa.Table, features: Sequence[str]) -> pa.Array:
    """Every row's feature values as a JSON array in ``features`` order (``large_string``)."""
    return RowEncoder(table, features).rows()


def as_bytes(array: pa.Array) -> np.ndarray:
    """An arrow string array as a NumPy object array of ``bytes`` (what the Redis client sends)."""
    typ = pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary()
    return array.cast(typ).to_numpy(zero_copy_only=False)
