"""The Open Inference Protocol (KServe V2) infer request and answer, JSON and binary.

The binary tensor data extension (Triton's and KServe's ``binary_tensor_data``, tritonclient's
default): the body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by the
raw data of every input whose ``parameters.binary_data_size`` is set, in input order, little
endian, row major; a BOOL element is one byte, a BYTES element a 4-byte length and its bytes. An
output comes back the same way when the request asks for it (``parameters.binary_data`` on the
output, or ``parameters.binary_data_output`` on the request). The protocol is small and fixed,
so it is decoded here with NumPy: the maintained implementations are a client (tritonclient) or
a server that cannot share this stack (KServe pins pandas < 3); the suite holds this codec to
tritonclient's and KServe's own encoders and decoders.

Each model field is one input tensor of shape ``[n]`` or ``[n, 1]``; ``null`` (JSON) or NaN (a
binary float) is a missing value.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scorebridge.prediction import Prediction
from scorebridge.schema import Columns, InputSchema
from scoring_service.codec import check_count, dumps, parse_json
from scoring_service.errors import ApiError
from scoring_service.finite import check_range

if TYPE_CHECKING:
    from scoring_service.features import FeatureBinding

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]

# datatype -> little-endian NumPy dtype of one element (BYTES has none: length-prefixed)
_DTYPES = {"BOOL": "|b1", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
           "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
NUMERIC = frozenset(_DTYPES)
_INTEGER_TYPES = frozenset(d for d in _DTYPES if d[0] in "IU")


def v2_datatype(schema_dtype: str) -> str:
    """The tensor datatype a model field is declared with in the model metadata."""
    return {"float64": "FP64", "int64": "INT64", "bool": "BOOL", "string": "BYTES"}[schema_dtype]


@dataclass
class InferRequest:
    """A decoded infer request: the JSON header and the binary data that followed it."""

    header: dict[str, Any]
    binary: memoryview = field(default_factory=lambda: memoryview(b""))

    @property
    def id(self) -> str | None:
        rid = self.header.get("id")
        return rid if isinstance(rid, str) else None


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """Split a body into its JSON header and the binary tensor data after it."""
    if header_length is None:
        return InferRequest(_header(parse_json(body)))
    if not header_length.strip().isdigit() or int(header_length) > len(body):
        raise ApiError(400, "invalid_request", f"{HEADER_LENGTH}: {header_length!r} is not a byte count within the "
                       f"{len(body)}-byte body", field=HEADER_LENGTH)
    n = int(header_length)
    return InferRequest(_header(parse_json(body[:n])), memoryview(body)[n:])


def _header(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise ApiError(400, "invalid_request", 'the body must be {"inputs": [{"name", "shape", "datatype", '
                       '"data"}, ...]}', field="inputs")
    for key, kind, name in (("id", str, "a string"), ("parameters", dict, "an object"), ("outputs", list, "a list")):
        if key in payload and not isinstance(payload[key], kind):
            raise ApiError(400, "invalid_request", f"'{key}' must be {name}", field=key)
    for tensor in payload["inputs"] + payload.get("outputs", []):
        if isinstance(tensor, dict) and "parameters" in tensor and not isinstance(tensor["parameters"], dict):
            raise ApiError(400, "invalid_request", f"tensor {tensor.get('name')!r}: 'parameters' must be an object",
                           field="outputs" if tensor not in payload["inputs"] else "inputs")
    return payload


def v2_columns(schema: InputSchema, request: InferRequest, limit: int,
               binding: FeatureBinding | None = None) -> tuple[Columns, list | None]:
    """An inference request (one named input per model field) -> (validated columns, annotations).

    With ``binding``, an input named as its entity key (``BYTES`` or ``INT64``) makes the request keyed:
    model inputs it leaves out come from the store, and the ``features`` annotations come back (else ``None``)."""
    entity = binding.entity if binding is not None else None
    by_name: dict[str, dict[str, Any]] = {}
    offsets: dict[str, tuple[int, int]] = {}  # input name -> its slice of the binary data
    offset = 0
    for tensor in request.header["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise ApiError(400, "invalid_request", "each input needs a 'name'", field="inputs")
        name = tensor["name"]
        if (name not in schema.by_name and name != entity) or name in by_name:
            what = "is not an input of this model" if name not in schema.by_name else "appears twice"
            raise ApiError(400, "invalid_request", f"input {name!r} {what}; the model's inputs are "
                           f"{', '.join(schema.names)}", field="inputs")
        size = _binary_size(tensor)
        if size is not None:
            offsets[name] = (offset, offset + size)
            offset += size
        by_name[name] = tensor
    if offset != len(request.binary):
        raise ApiError(400, "invalid_request", f"the inputs announce {offset} bytes of binary data (binary_data_size); "
                       f"the body holds {len(request.binary)} after the JSON header", field="inputs")
    keyed = entity is not None and entity in by_name
    lists: dict[str, list] = {}
    n_rows: int | None = None
    for f in schema.fields:
        tensor = by_name.get(f.name)
        if tensor is None:
            if keyed:
                continue
            raise ApiError(400, "missing_field", f"the request lacks input {f.name!r}; the model needs "
                           f"{', '.join(schema.names)}", field=f.name)
        data = _tensor_data(f.name, tensor, offsets, request.binary, f.is_numeric, v2_datatype(f.dtype))
        if n_rows is None:
            n_rows = len(data)
            check_count(n_rows, limit)
        elif len(data) != n_rows:
            raise ApiError(400, "invalid_shape", f"input {f.name!r} has {len(data)} rows, others have {n_rows}",
                           field=f.name)
        if tensor.get("datatype") == "BOOL" and f.dtype != "bool":  # true/false as 1/0; the schema judges the rest
            data = [float(v) if isinstance(v, bool) else v for v in data]
        lists[f.name] = data
    keys = None
    if keyed:
        tensor = by_name[entity]
        if tensor.get("datatype") not in ("BYTES", "INT64"):
            raise ApiError(400, "invalid_type", f"input {entity!r} is the entity key: send it as BYTES or INT64, not "
                           f"{tensor.get('datatype')!r}", field=entity)
        keys = _tensor_data(entity, tensor, offsets, request.binary, tensor["datatype"] == "INT64",
                            tensor["datatype"])
        if n_rows is None:
            n_rows = len(keys)
            check_count(n_rows, limit)
        elif len(keys) != n_rows:
            raise ApiError(400, "invalid_shape", f"input {entity!r} has {len(keys)} rows, others have {n_rows}",
                           field=entity)
    if not n_rows:
        raise ApiError(400, "empty", "the inputs hold no rows: send at least one", field=schema.names[0])
    # one conversion path for every protocol: the schema validates records
    names = list(lists)
    records = [dict(zip(names, row, strict=True)) for row in zip(*lists.values(), strict=True)] if names \
        else [{} for _ in range(n_rows)]
    if keys is None:
        return check_range(schema, schema.from_records(records)), None
    rows = list(range(n_rows))
    return binding.fill(schema, records, rows, binding.keys_of(keys, rows))


def _tensor_data(name: str, tensor: dict[str, Any], offsets: dict[str, tuple[int, int]], binary: memoryview,
                 numeric: bool, expected: str) -> list:
    """One input tensor's values (JSON or binary), its datatype and shape checked."""
    datatype = tensor.get("datatype")
    if (not isinstance(datatype, str) or (datatype == "BYTES") != (not numeric)
            or (numeric and datatype not in NUMERIC)):
        raise ApiError(400, "invalid_type", f"input {name!r} has datatype {datatype!r}; the model expects "
                       f"{expected}", field=name)
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(type(d) is int and d >= 0 for d in shape)
            or (len(shape) == 2 and shape[1] != 1)):
        raise ApiError(400, "invalid_shape", f"input {name!r}: shape {shape!r} is not [n] or [n, 1]", field=name)
    if name in offsets:
        start, end = offsets[name]
        data = _from_binary(name, datatype, binary[start:end], shape[0])
    else:
        data = _from_json(name, tensor.get("data"))
        if datatype in _INTEGER_TYPES:
            _check_integer_data(name, datatype, data)
    if math.prod(shape) != len(data):
        raise ApiError(400, "invalid_shape", f"input {name!r}: shape {shape!r} does not fit its "
                       f"{len(data)} values; send [n] or [n, 1]", field=name)
    return data


def _binary_size(tensor: dict[str, Any]) -> int | None:
    params = tensor.get("parameters")
    if not isinstance(params, dict) or "binary_data_size" not in params:
        return None
    size = params["binary_data_size"]
    if type(size) is not int or size < 0:
        raise ApiError(400, "invalid_request", f"input {tensor['name']!r}: binary_data_size must be a byte count, "
                       f"got {size!r}", field=tensor["name"])
    if "data" in tensor:
        raise ApiError(400, "invalid_request", f"input {tensor['name']!r} has both 'data' and binary_data_size",
                       field=tensor["name"])
    return size


def _from_json(name: str, data: Any) -> list:
    if not isinstance(data, list):
        raise ApiError(400, "invalid_request", f"input {name!r}: 'data' must be a list", field=name)
    if data and isinstance(data[0], list):
        flat: list = []
        for row in data:
            if isinstance(row, list):
                if any(isinstance(v, list | dict) for v in row):
                    raise ApiError(400, "invalid_shape", f"input {name!r}: 'data' nests deeper than [n, 1]", field=name)
                flat.extend(row)
            else:
                flat.append(row)
        return flat
    return data


def _check_integer_data(name: str, datatype: str, data: list) -> None:
    """JSON data of an integer tensor holds that datatype's values: ``[20.6]`` or ``[300]`` in an
    ``INT64`` or ``UINT8`` tensor is the client's mistake, never scored as sent (a binary tensor's
    bytes are its datatype's values by construction). Values of other types are the schema's to judge."""
    info = np.iinfo(np.dtype(_DTYPES[datatype]))
    low, high = int(info.min), int(info.max)
    try:
        values = np.array(data, dtype=np.float64)  # None -> NaN
    except (TypeError, ValueError, OverflowError):
        values = None  # strings, booleans or ints beyond float64: the exact loop below judges
    if values is not None and values.ndim == 1 and bool((np.abs(values) < 2.0**53).all()):
        # the common case, in one pass: every value is exact in float64 (NaN fails the test above)
        bad = (np.rint(values) != values) | (values < low) | (values > high)
        if not bad.any():
            return
    # exact comparisons (Python compares an int with a float exactly; float64 would take 2**63 for
    # INT64's maximum), one value at a time: V2 JSON is not the fast path. A float must lie strictly
    # inside +-2**63, as for the schema: the JSON parser reads an integer token beyond int64's range
    # as a float, which may round onto -2**63
    i = next((i for i, v in enumerate(data) if (type(v) is int and not low <= v <= high) or (
        type(v) is float and v == v and not (v.is_integer() and low <= v <= high and abs(v) < 2.0**63))), None)
    if i is not None:
        raise ApiError(400, "invalid_type", f"input {name!r}: {data[i]!r} in record {i} is no {datatype} value "
                       f"({info.min} to {info.max}); send {datatype} values or declare the datatype the data has",
                       field=name, record=i)


def _from_binary(name: str, datatype: str, raw: memoryview, rows: int) -> list:
    if datatype == "BYTES":
        return _bytes_elements(name, raw)
    dtype = np.dtype(_DTYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise ApiError(400, "invalid_shape", f"input {name!r}: {len(raw)} bytes are not whole {datatype} elements",
                       field=name)
    values = np.frombuffer(raw, dtype=dtype)
    if datatype == "FP16":
        values = values.astype(np.float64)
    return values.tolist()


def _bytes_elements(name: str, raw: memoryview) -> list[str]:
    out, pos, end = [], 0, len(raw)
    while pos < end:
        if pos + 4 > end:
            raise ApiError(400, "invalid_request", f"input {name!r}: BYTES data ends inside an element's length",
                           field=name)
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > end:
            raise ApiError(400, "invalid_request", f"input {name!r}: a BYTES element runs past the data", field=name)
        try:
            out.append(bytes(raw[pos:pos + n]).decode())
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_type", f"input {name!r}: BYTES element {len(out)} is not UTF-8 text",
                           field=name, record=len(out)) from None
        pos += n
    return out


# -- the answer --------------------------------------------------------------------------------
def _tensor_type(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def _binary_of(datatype: str, values: np.ndarray) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in values.tolist():
            b = str(v).encode()
            parts += [struct.pack("<I", len(b)), b]
        return b"".join(parts)
    return np.ascontiguousarray(values, dtype=_DTYPES[datatype]).tobytes()


def _wanted(requested: Any, names: list[str], binary_all: bool) -> list[tuple[str, bool]]:
    if requested is None:
        return [(n, binary_all) for n in names]
    if not isinstance(requested, list):
        raise ApiError(400, "invalid_request", "'outputs' must be a list of {\"name\": ...}", field="outputs")
    wanted = []
    for o in requested:
        name = o.get("name") if isinstance(o, dict) else None
        if name not in names:
            raise ApiError(400, "invalid_request", f"unknown output {name!r}; outputs: {', '.join(names)}",
                           field="outputs")
        params = o.get("parameters")
        binary = params.get("binary_data", binary_all) if isinstance(params, dict) else binary_all
        if not isinstance(binary, bool):
            raise ApiError(400, "invalid_request", f"output {name!r}: parameters.binary_data must be true or false",
                           field="outputs")
        wanted.append((name, binary))
    return wanted


def encode_answer(request: InferRequest, prediction: Prediction, head: dict[str, Any]) -> tuple[bytes, int | None]:
    """(the answer's body, the JSON header's length if binary outputs follow it, else ``None``).

    ``head`` holds the answer's fields before ``outputs`` (model name, version, id, parameters).
    """
    columns = prediction.to_columns()
    params = request.header.get("parameters")
    binary_all = params.get("binary_data_output", False) if isinstance(params, dict) else False
    if not isinstance(binary_all, bool):
        raise ApiError(400, "invalid_request", "parameters.binary_data_output must be true or false",
                       field="parameters")
    outputs, blobs = [], []
    for name, binary in _wanted(request.header.get("outputs"), list(columns), binary_all):
        values = columns[name]
        datatype = _tensor_type(values)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [len(values)]}
        if binary:
            blob = _binary_of(datatype, values)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = values.tolist()
        outputs.append(tensor)
    text = dumps({**head, "outputs": outputs})
    if not blobs:
        return text, None
    return text + b"".join(blobs), len(text)


__all__ = ["EXTENSIONS", "HEADER_LENGTH", "InferRequest", "encode_answer", "parse_request",
           "v2_columns", "v2_datatype"]
