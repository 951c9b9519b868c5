"""Request bodies in, response bodies out: JSON (v1 and Open Inference Protocol) and CSV.

v1 JSON bodies take a fast path first: a msgspec decoder typed by the model's input schema parses
and type-checks the records in one C pass. Anything it rejects goes down the validating path
(orjson, then the standard library, which also accepts the non-standard ``NaN`` token some clients
emit for a missing value, then :meth:`InputSchema.from_records`), which either accepts it or names
the field and record that are wrong. Predictions are serialised in bulk (:func:`predictions_json`).
"""

from __future__ import annotations

import io
import json
import math
import operator
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import orjson
import pandas as pd
from flask import Response

from scorebridge.prediction import Prediction
from scorebridge.schema import Columns, InputSchema
from scoring_service.errors import ApiError

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")


def _nan_is_null(token: str) -> float | None:
    # NaN means "missing" (null); +/-Infinity stay numbers, as the engines see them
    return None if token == "NaN" else float(token)


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; ``NaN`` is read as ``null``. Raises 400 ``invalid_json``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_nan_is_null)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


def dumps(obj: Any) -> bytes:
    """Serialise a response (NumPy scalars and arrays allowed; NaN becomes ``null``)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status=status, mimetype="application/json")


def check_count(n: int, limit: int) -> None:
    if n > limit:
        raise ApiError(413, "too_many_records",
                       f"{n} records in one request; the limit is {limit} (split the batch)", field="records")


# -- v1 JSON ----------------------------------------------------------------------------------
class RecordsDecoder:
    """Parses and type-checks a v1 body ``{"records": [...]}`` for one input schema in one pass.

    Returns ``None`` for any body it does not accept as it stands; the caller then takes the
    validating path, so error messages come from one place.
    """

    def __init__(self, schema: InputSchema) -> None:
        self.schema = schema
        # struct attributes are f0, f1, ... renamed to the field names, which need not be identifiers
        attrs, rename = [], {}
        for i, f in enumerate(schema.fields):
            typ = (bool | float | None) if f.dtype == "bool" else (float | None) if f.is_numeric else (str | None)
            attrs.append((f"f{i}", typ))
            rename[f"f{i}"] = f.name
        record = msgspec.defstruct("Record", attrs, rename=rename, gc=False)
        body = msgspec.defstruct("Body", [("records", list[record])], gc=False)
        self._decoder = msgspec.json.Decoder(body)
        self._getters = [(f.name, operator.attrgetter(f"f{i}")) for i, f in enumerate(schema.fields)]

    def __call__(self, body: bytes) -> list | None:
        try:
            records = self._decoder.decode(body).records
        except msgspec.DecodeError:
            return None
        return records or None  # an empty list: let the validating path say so

    def columns(self, records: list) -> Columns:
        return self.schema.from_typed_lists({name: list(map(get, records)) for name, get in self._getters})


def v1_columns(decoder: RecordsDecoder, body: bytes, limit: int) -> Columns:
    """A v1 JSON body -> validated columns (fast path first; see the module docstring).

    ``decoder`` is built once per loaded model version (``LoadedModel.records_decoder``)."""
    records = decoder(body)
    if records is not None:
        check_count(len(records), limit)
        return decoder.columns(records)
    return decoder.schema.from_records(records_of(parse_json(body), limit))


def predictions_json(prediction: Prediction) -> orjson.Fragment:
    """The v1 ``predictions`` array, already serialised: the bytes ``dumps(prediction.to_records())``
    gives, at a third of its cost for 1,000 records.

    Each output column is serialised whole (floats print without brackets or commas, so the values
    split unambiguously), then the columns are interleaved with the constant JSON between them by
    list-slice assignment and joined once: no Python loop over records.
    """
    numpy = orjson.OPT_SERIALIZE_NUMPY
    if prediction.task == "classification":
        encoded = {c: orjson.dumps(c) for c in prediction.classes}
        labels = [encoded.get(v) or orjson.dumps(v) for v in prediction.to_columns()["label"].tolist()]
        proba = orjson.dumps(np.ascontiguousarray(prediction.probabilities.T), option=numpy)
        columns = [labels] + [col.split(b",") for col in proba[2:-2].split(b"],[")]
        keys = [orjson.dumps(str(c)) for c in prediction.classes]
        between = [b',"probabilities":{' + keys[0] + b":"] + [b"," + k + b":" for k in keys[1:]]
        head, tail = b'{"label":', b"}}"
    else:
        columns = [orjson.dumps(np.ascontiguousarray(prediction.values), option=numpy)[1:-1].split(b",")]
        between, head, tail = [], b'{"prediction":', b"}"
    n, width = len(columns[0]), 2 * len(columns)
    parts: list[bytes] = [b""] * (n * width)
    for j, col in enumerate(columns):
        parts[2 * j::width] = col
        # after column j: the text before column j + 1, or the record's end and the next record's start
        parts[2 * j + 1::width] = [between[j] if j < len(between) else tail + b"," + head] * n
    parts[-1] = tail
    return orjson.Fragment(b"[" + head + b"".join(parts) + b"]")


def records_of(payload: Any, limit: int) -> list:
    """The ``records`` list of a v1 body, after the shape and count checks."""
    if not isinstance(payload, dict) or "records" not in payload:
        raise ApiError(400, "invalid_request", 'the body must be a JSON object {"records": [{...}, ...]}',
                       field="records")
    records = payload["records"]
    if isinstance(records, list):
        check_count(len(records), limit)
    return records


# -- CSV --------------------------------------------------------------------------------------
def parse_keep(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def read_csv(schema: InputSchema, body: bytes, keep: Sequence[str], limit: int) -> tuple[pd.DataFrame, Columns]:
    """CSV body -> (the frame, validated columns), typed as ``scorebridge predict`` reads CSV.

    Carried-over ``keep`` columns that are not model inputs are read as raw text, so identifiers
    such as ``007`` come back unchanged.
    """
    converters = {c: str for c in keep if c not in schema.by_name}
    try:
        frame = schema.read_csv(io.BytesIO(body), converters=converters)
    except pd.errors.EmptyDataError:
        raise ApiError(400, "empty", "the CSV body is empty: send a header row and at least one record",
                       field="records") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_csv", f"cannot parse the CSV body: {exc}".splitlines()[0]) from None
    if frame.empty:
        raise ApiError(400, "empty", "the CSV body has a header but no records", field="records")
    check_count(len(frame), limit)
    missing = [c for c in keep if c not in frame.columns]
    if missing:
        raise ApiError(400, "missing_field", f"?keep= names column(s) the CSV lacks: {', '.join(missing)}",
                       field=missing[0])
    return frame, schema.from_frame(frame)


def write_csv(prediction: Prediction, frame: pd.DataFrame, keep: Sequence[str]) -> bytes:
    """The ``scorebridge predict`` output columns, with the ``keep`` columns in front."""
    out = prediction.to_frame()
    if keep:
        out = pd.concat([frame[list(keep)].reset_index(drop=True), out], axis=1)
    return out.to_csv(index=False).encode()


# -- Open Inference Protocol (KServe V2) --------------------------------------------------------
_V2_NUMERIC = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
               "FP16", "FP32", "FP64"}


def v2_datatype(schema_dtype: str) -> str:
    return {"float64": "FP64", "int64": "INT64", "bool": "BOOL", "string": "BYTES"}[schema_dtype]


def _flatten(data: Any) -> list:
    if not isinstance(data, list):
        raise ApiError(400, "invalid_request", "an input's 'data' must be a list")
    if data and isinstance(data[0], list):
        flat: list = []
        for row in data:
            flat.extend(row if isinstance(row, list) else [row])
        return flat
    return data


def v2_columns(schema: InputSchema, payload: Any, limit: int) -> Columns:
    """An inference request (one named input per model field) -> validated columns."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise ApiError(400, "invalid_request", 'the body must be {"inputs": [{"name", "shape", "datatype", '
                       '"data"}, ...]}', field="inputs")
    by_name = {}
    for tensor in payload["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise ApiError(400, "invalid_request", "each input needs a 'name'", field="inputs")
        by_name[tensor["name"]] = tensor
    lists: dict[str, list] = {}
    n_rows: int | None = None
    for f in schema.fields:
        tensor = by_name.get(f.name)
        if tensor is None:
            raise ApiError(400, "missing_field", f"the request lacks input {f.name!r}; the model needs "
                           f"{', '.join(schema.names)}", field=f.name)
        datatype = tensor.get("datatype")
        if (datatype == "BYTES") != (not f.is_numeric) or (f.is_numeric and datatype not in _V2_NUMERIC):
            raise ApiError(400, "invalid_type", f"input {f.name!r} has datatype {datatype!r}; the model expects "
                           f"{v2_datatype(f.dtype)}", field=f.name)
        data = _flatten(tensor.get("data"))
        shape = tensor.get("shape")
        if (not isinstance(shape, list) or not shape or not all(isinstance(d, int) for d in shape)
                or math.prod(shape) != len(data) or len(data) != shape[0]):
            raise ApiError(400, "invalid_shape", f"input {f.name!r}: shape {shape!r} does not fit its "
                           f"{len(data)} values; send [n] or [n, 1]", field=f.name)
        if n_rows is None:
            n_rows = len(data)
            check_count(n_rows, limit)
        elif len(data) != n_rows:
            raise ApiError(400, "invalid_shape", f"input {f.name!r} has {len(data)} rows, others have {n_rows}",
                           field=f.name)
        if datatype == "BOOL" and f.dtype != "bool":
            data = [None if v is None else float(v) for v in data]
        lists[f.name] = data
    # one conversion path for every protocol: the schema validates records
    names = list(lists)
    records = [dict(zip(names, row, strict=True)) for row in zip(*lists.values(), strict=True)]
    return schema.from_records(records)


def v2_outputs(prediction: Prediction, requested: Any) -> list[dict[str, Any]]:
    """Prediction -> output tensors named like the bundle's output columns (``label``, ...)."""
    columns = prediction.to_columns()
    names = list(columns)
    if requested:
        if not isinstance(requested, list):
            raise ApiError(400, "invalid_request", "'outputs' must be a list of {\"name\": ...}", field="outputs")
        wanted = [o.get("name") if isinstance(o, dict) else None for o in requested]
        unknown = [w for w in wanted if w not in columns]
        if unknown:
            raise ApiError(400, "invalid_request", f"unknown output {unknown[0]!r}; outputs: {', '.join(names)}",
                           field="outputs")
        names = wanted
    return [{"name": name, "datatype": _tensor_type(columns[name]), "shape": [len(columns[name])],
             "data": columns[name].tolist()} for name in names]


def _tensor_type(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"
