"""Scoring one Arrow record batch into an output batch; shared by the local and the Spark engine.

An output batch holds the carried-over ``keep_columns`` (as read, in front) then the bundle's output
columns (``label``, ``probability_<class>`` or ``prediction``), exactly as ``scorebridge predict``
names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from batch_jobs.errors import JobSpecError
from scorebridge.bundle import Bundle
from scorebridge.errors import SchemaError
from scorebridge.prediction import output_columns
from scorebridge.schema import Columns


def label_type(classes: list) -> pa.DataType:
    """Arrow type of ``label``: the classes' own type (see ``scorebridge.prediction``)."""
    if classes and all(isinstance(c, bool) for c in classes):
        return pa.bool_()
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return pa.int64()
    return pa.string()


def output_schema(bundle: Bundle, input_schema: pa.Schema, keep_columns: tuple[str, ...],
                  source: str) -> pa.Schema:
    """The output table's schema; raises if a kept column is absent or collides with an output."""
    outputs = output_columns(bundle.task, bundle.classes)
    fields = []
    for name in keep_columns:
        if name not in input_schema.names:
            raise JobSpecError(f"output.keep_columns: the input {source} has no column {name!r} "
                               f"(it has: {', '.join(input_schema.names)})")
        if name in outputs:
            raise JobSpecError(f"output.keep_columns: {name!r} collides with the output column of that name")
        fields.append(input_schema.field(name))
    for name in outputs:
        fields.append(pa.field(name, label_type(bundle.classes) if name == "label" else pa.float64()))
    return pa.schema(fields)


def input_columns(bundle: Bundle, keep_columns: tuple[str, ...]) -> list[str]:
    """The columns to read from the input: kept columns and the model's inputs, without duplicates."""
    return list(dict.fromkeys([*keep_columns, *bundle.schema.names]))


def to_model_columns(bundle: Bundle, batch: pa.RecordBatch, source: str, first_row: int = 0) -> Columns:
    """Validate a batch against the bundle's input schema (errors name the input, the field and the row:
    ``first_row`` is the batch's first row within ``source``)."""
    try:
        return bundle.schema.from_arrow(batch, first_row)
    except SchemaError as exc:
        raise SchemaError(f"{source}: {exc}", field=exc.field, record=exc.record, code=exc.code) from None


def validated(bundle: Bundle, batches: Iterable[pa.RecordBatch], source: str,
              first_row: int = 0) -> Iterator[tuple[pa.RecordBatch, Columns]]:
    """``(batch, validated columns)`` for each non-empty batch read from ``source`` in order (an error
    names the row within ``source``, counting from ``first_row``)."""
    for batch in batches:
        if batch.num_rows:
            yield batch, to_model_columns(bundle, batch, source, first_row)
            first_row += batch.num_rows


def score_columns(engine: Any, batch: pa.RecordBatch, columns: Columns, schema: pa.Schema,
                  keep_columns: tuple[str, ...]) -> tuple[pa.RecordBatch, dict[str, np.ndarray]]:
    """Score validated ``columns`` of ``batch``; returns the output batch (``schema``) and the raw outputs."""
    outputs = engine.predict_columns(columns).to_columns()
    arrays = []
    for name in keep_columns:
        col = batch.column(batch.schema.get_field_index(name))
        want = schema.field(name).type
        arrays.append(col if col.type == want else col.cast(want))  # e.g. files of mixed encodings
    for name in schema.names[len(keep_columns):]:
        arrays.append(pa.array(outputs[name], type=schema.field(name).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema), outputs


def score_batch(engine: Any, bundle: Bundle, batch: pa.RecordBatch, schema: pa.Schema,
                keep_columns: tuple[str, ...], source: str) -> tuple[pa.RecordBatch, dict[str, np.ndarray]]:
    """Validate and score ``batch``; returns the output batch (``schema``) and the raw output arrays."""
    return score_columns(engine, batch, to_model_columns(bundle, batch, source), schema, keep_columns)
