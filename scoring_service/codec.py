"""JSON request bodies in, JSON answers out (CSV: :mod:`csv_codec`; V2 tensors: :mod:`oip`).

v1 JSON bodies take a fast path first: a msgspec decoder typed by the model's input schema parses
and type-checks the records in one C pass. Anything it rejects goes down the validating path
(orjson, then the standard library, which also accepts the non-standard ``NaN`` token some clients
emit for a missing value, then :meth:`InputSchema.from_records`), which either accepts it or names
the field and record that are wrong. Predictions are serialised in bulk (:func:`predictions_json`).
"""

from __future__ import annotations

import json
import operator
import re
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson
from flask import Response

from scorebridge.prediction import Prediction, class_text, label_kind, typed_labels
from scorebridge.schema import INT64_MAX, INT64_MIN, Columns, InputSchema
from scoring_service.errors import ApiError
from scoring_service.finite import MAX_MAGNITUDE, check_range

JSON_TYPES = ("application/json",)


def _nan_is_null(token: str) -> float | None:
    # NaN means "missing" (null); +/-Infinity stay numbers, as the engines see them
    return None if token == "NaN" else float(token)


def _big_int(text: str) -> int | float:
    # exact up to 20 characters (every int64 and uint64, which an integer field's range check needs);
    # a longer integer is a float as far as any model is concerned (inf beyond float64: refused where a
    # model cannot take it), never an int NumPy cannot convert
    return int(text) if len(text) <= 20 else float(text)


# an escaped surrogate, or one encoded as UTF-8 bytes (the standard library decodes with surrogatepass)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; ``NaN`` is read as ``null``. Raises 400 ``invalid_json``.

    orjson parses the common case; what it refuses goes to the standard library, which also reads
    the non-standard ``NaN``/``Infinity`` tokens and numbers beyond float64 (as infinity). A body
    nested deeper than the parsers go, or with a lone UTF-16 surrogate escape (``"\\ud800"``, no
    character at all), is a 400 too.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        payload = json.loads(body, parse_constant=_nan_is_null, parse_int=_big_int)
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body nests too deeply to be a scoring request") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if _SURROGATE.search(body):
        _refuse_surrogates(payload)
    return payload


def _refuse_surrogates(payload: Any) -> None:
    """400 naming where the first string with a lone surrogate is (strings that cannot be UTF-8)."""
    stack: list[tuple[Any, tuple]] = [(payload, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                field, record = _locate(payload, path)
                raise ApiError(400, "invalid_json", "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff "
                               "without its pair), which is no character", field=field, record=record) from None
        elif isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
            for k in value:
                if isinstance(k, str):
                    stack.append((k, path))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def _locate(payload: Any, path: tuple) -> tuple[str | None, int | None]:
    """(field, record) for a path into a v1 body (records[i][field]) or a V2 body (inputs[j].data)."""
    if len(path) >= 2 and path[0] == "records" and isinstance(path[1], int):
        name = path[2] if len(path) >= 3 and isinstance(path[2], str) and _encodable(path[2]) else None
        return name, path[1]
    if len(path) >= 2 and path[0] == "inputs" and isinstance(path[1], int):
        tensor = payload["inputs"][path[1]]
        name = tensor.get("name") if isinstance(tensor, dict) else None
        return (name if isinstance(name, str) and name.isprintable() and _encodable(name) else "inputs"), None
    return (str(path[0]) if path and isinstance(path[0], str) and _encodable(path[0]) else None), None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def complete_body(body: bytes, declared: int | None) -> bytes:
    """``body``, if it is as long as its ``Content-Length`` said: a shorter one (the client stopped
    sending, or half-closed the connection) is a 400, never scored as if it were whole."""
    if declared is not None and len(body) < declared:
        raise ApiError(400, "incomplete_body", f"the body ended after {len(body)} of the {declared} bytes its "
                       "Content-Length announced; send the whole body")
    return body


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
        # numbers within ±MAX_MAGNITUDE, checked while decoding; others go down the validating path
        number = Annotated[float, msgspec.Meta(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
        # an integer field: an exact int within int64, or a number the schema checks is a whole one
        integer = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
        for i, f in enumerate(schema.fields):
            typ = ((bool | number | None) if f.dtype == "bool" else (integer | number | None) if f.dtype == "int64"
                   else (number | None) if f.is_numeric else (str | None))
            attrs.append((f"f{i}", typ))
            rename[f"f{i}"] = f.name
        record = msgspec.defstruct("Record", attrs, rename=rename, gc=False)
        body = msgspec.defstruct("Body", [("records", list[record])], gc=False)
        self._decoder = msgspec.json.Decoder(body)
        self._getters = [(f.name, operator.attrgetter(f"f{i}")) for i, f in enumerate(schema.fields)]

    def __call__(self, body: bytes) -> list | None:
        try:
            records = self._decoder.decode(body).records
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past the stack msgspec has left
            return None  # (in an ignored key, even); the validating path's parsers have fixed limits
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
    schema = decoder.schema
    records = records_of(parse_json(body), limit)
    try:
        columns = schema.from_records(records)
    except RecursionError:  # the error message's repr of a deeply nested value ran out of stack
        raise _nested_value(schema, records) from None
    return check_range(schema, columns)


def _nested_value(schema: InputSchema, records: list) -> ApiError:
    """The 400 ``from_records`` was building for a list or object as a field's value (field and record
    found as it looks for them: field by field, then record by record)."""
    for f in schema.fields:
        for i, rec in enumerate(records):
            if isinstance(rec, dict) and isinstance(rec.get(f.name), list | dict):
                return ApiError(400, "invalid_type", f"field {f.name!r} expects a value, got a structure nested too "
                                f"deeply to show in record {i}", field=f.name, record=i)
    return ApiError(400, "invalid_request", "the request nests too deeply")


class PredictionsEncoder:
    """Serialises one model's predictions as the v1 ``predictions`` array: the bytes
    ``dumps(prediction.to_records())`` gives, at a third of its cost for 1,000 records.

    Each output column is serialised whole (floats print without brackets or commas, so the values
    split unambiguously), then the columns are interleaved with the constant JSON between them by
    list-slice assignment and joined once: no Python loop over records. What depends only on the
    model's task and classes (each label's JSON, the probability keys, the text between columns) is
    built once per loaded version (``LoadedModel.predictions_encoder``), not per request.
    """

    def __init__(self, task: str, classes: list) -> None:
        self.classification = task == "classification"
        self.kind = label_kind(classes)
        if self.classification:
            # the typed labels' own values as keys: bools and ints never share one table (True == 1)
            self._labels = {c: orjson.dumps(c) for c in classes}
            keys = [orjson.dumps(class_text(c)) for c in classes]
            self._between = [b',"probabilities":{' + keys[0] + b":"] + [b"," + k + b":" for k in keys[1:]]
            self._head, self._tail = b'{"label":', b"}}"
        else:
            self._labels, self._between = {}, []
            self._head, self._tail = b'{"prediction":', b"}"
        # after the last column: the record's end and the next record's start
        self._next = self._tail + b"," + self._head

    def __call__(self, prediction: Prediction) -> orjson.Fragment:
        numpy = orjson.OPT_SERIALIZE_NUMPY
        if self.classification:
            encoded = self._labels
            labels = [encoded.get(v) or orjson.dumps(v)
                      for v in typed_labels(prediction.labels, prediction.classes, self.kind).tolist()]
            proba = orjson.dumps(np.ascontiguousarray(prediction.probabilities.T), option=numpy)
            columns = [labels] + [col.split(b",") for col in proba[2:-2].split(b"],[")]
        else:
            columns = [orjson.dumps(np.ascontiguousarray(prediction.values), option=numpy)[1:-1].split(b",")]
        between, n, width = self._between, len(columns[0]), 2 * len(columns)
        if n == 1:  # one record (the most frequent request): no interleaving to do
            parts = [self._head]
            for j, col in enumerate(columns):
                parts += (col[0], between[j] if j < len(between) else self._tail)
            return orjson.Fragment(b"[" + b"".join(parts) + b"]")
        parts = [b""] * (n * width)
        for j, col in enumerate(columns):
            parts[2 * j::width] = col
            # after column j: the text before column j + 1, or the record's end and the next record's start
            parts[2 * j + 1::width] = [between[j] if j < len(between) else self._next] * n
        parts[-1] = self._tail
        return orjson.Fragment(b"[" + self._head + b"".join(parts) + b"]")


def predictions_json(prediction: Prediction) -> orjson.Fragment:
    """The v1 ``predictions`` array, already serialised (see :class:`PredictionsEncoder`, which a
    loaded model keeps ready)."""
    return PredictionsEncoder(prediction.task, prediction.classes)(prediction)


def records_of(payload: Any, limit: int) -> list:
    """The ``records`` list of a v1 body, after the shape and count checks."""
    if not isinstance(payload, dict) or "records" not in payload:
        raise ApiError(400, "invalid_request", 'the body must be a JSON object {"records": [{...}, ...]}',
                       field="records")
    records = payload["records"]
    if isinstance(records, list):
        check_count(len(records), limit)
    return records
