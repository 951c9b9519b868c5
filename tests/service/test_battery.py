"""A battery of malformed requests of every kind: each gets its 4xx with the JSON error body naming the
field (and record) at fault, no worker restarts, and the v1 JSON fast path answers each byte for
byte as the Flask view does.

The kinds: JSON syntax and encoding (deep nesting, lone surrogates, numbers beyond float64), the v1
body's structure, every field's wrong types, missing fields and out-of-range values, CSV rows with
more or fewer cells than the header and cells of the wrong type, Open Inference Protocol tensors
(JSON and binary), media types and encodings, bodies shorter than their Content-Length, methods,
paths, and what gunicorn answers before the app (request line, headers, URI, chunked framing).
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client

from scoring_service import ServiceConfig, create_app
from scoring_service.testing import worker_pids

PREDICT = "/v1/models/credit_risk/predict"
INFER = "/v2/models/credit_risk/infer"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
NUMERIC = ["income", "debt_ratio", "age", "credit_lines", "late_payments"]
STRINGS = ["region", "employment"]
FIELDS = NUMERIC + STRINGS
GOOD = {"income": 52000.0, "debt_ratio": 0.31, "age": 41.0, "credit_lines": 3.0, "late_payments": 0.0,
        "region": "north", "employment": "salaried"}


@dataclass
class Case:
    """One malformed request and the answer it must get."""

    id: str
    body: bytes
    status: int
    code: str
    field: str | None = None
    record: int | None = None
    path: str = PREDICT
    headers: dict[str, str] = dc_field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    allow: str | None = None  # the Allow header a 405 must carry

    @property
    def v2(self) -> bool:
        return self.path.startswith("/v2")


def _records(*records: dict) -> bytes:
    return json.dumps({"records": list(records)}).encode()


def _tensors(record: dict, **changes: dict | None) -> list[dict]:
    """V2 inputs for one record; ``changes`` replace (or, with None, drop) an input's tensor."""
    out = []
    for name in FIELDS:
        tensor = {"name": name, "datatype": "BYTES" if name in STRINGS else "FP64", "shape": [1],
                  "data": [record[name]]}
        if name in changes:
            if changes[name] is None:
                continue
            tensor = {**tensor, **changes[name]}
        out.append(tensor)
    return out


def _infer(inputs: list, **extra: object) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def _binary(tensors: list[tuple[str, str, bytes]], header: dict | None = None) -> tuple[bytes, dict]:
    """A binary-extension body: JSON header + the raw bytes of each (name, datatype, raw) input."""
    inputs = [{"name": n, "datatype": d, "shape": [1], "parameters": {"binary_data_size": len(raw)}}
              for n, d, raw in tensors]
    head = json.dumps(header or {"inputs": inputs}).encode()
    return head + b"".join(raw for _, _, raw in tensors), {"Inference-Header-Content-Length": str(len(head))}


def _good_binary(**replace: tuple[str, bytes]) -> list[tuple[str, str, bytes]]:
    out = []
    for name in FIELDS:
        if name in STRINGS:
            raw = GOOD[name].encode()
            item = (name, "BYTES", struct.pack("<I", len(raw)) + raw)
        else:
            item = (name, "FP64", struct.pack("<d", GOOD[name]))
        if name in replace:
            item = (name, *replace[name])
        out.append(item)
    return out


def _csv(header: list[str], *rows: list[str]) -> bytes:
    return ("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n").encode()


def _good_row(**cells: str) -> list[str]:
    return [cells.get(n, str(GOOD[n])) for n in FIELDS]


def cases() -> list[Case]:
    g = GOOD
    out: list[Case] = []
    add = out.append

    # -- JSON syntax and encoding (v1 and V2 bodies)
    syntax = {
        "empty body": b"", "whitespace": b"   \n", "truncated": b'{"records": [',
        "trailing garbage": _records(g) + b"x",
        "single quotes": b"{'records': []}", "comment": b'{"records": [] /* c */}', "bare word": b"records",
        "invalid escape": b'{"records": [{"region": "\\q"}]}', "control character": b'{"records": ["\x01"]}',
        "not utf-8": b'{"records": [{"region": "\xff"}]}',
        "unterminated string": b'{"records": [{"region": "north}]}', "missing comma": b'{"records": [1 2]}',
        "nan in key": b'{NaN: 1}',
    }
    for name, body in syntax.items():
        add(Case(f"json {name}", body, 400, "invalid_json"))
        add(Case(f"v2 json {name}", body, 400, "invalid_json", path=INFER))
    for depth in (1_000, 5_000, 100_000):
        nested = b"[" * depth + b"]" * depth
        deep = depth > 1024  # orjson parses up to 1,024 levels: shallower ones get the structural error
        add(Case(f"nested {depth} as records", b'{"records": ' + nested + b"}", 400,
                 *(("invalid_json",) if deep else ("invalid_request", None, 0))))
        add(Case(f"nested {depth} under an ignored key", b'{"records": [], "x": ' + nested + b"}", 400,
                 *(("invalid_json",) if deep else ("empty", "records"))))
        add(Case(f"nested {depth} in a record", _records(g)[:-2] + b', {"income": ' + nested + b"}]}", 400,
                 *(("invalid_json",) if deep else ("invalid_type", "income", 1))))
        add(Case(f"v2 nested {depth}", b'{"inputs": ' + nested + b"}", 400,
                 *(("invalid_json",) if deep else ("invalid_request", "inputs")), path=INFER))
    add(Case("utf-8 encoded surrogate", _records(g).replace(b"north", b"\xed\xa0\x80"), 400, "invalid_json",
             "region", 0))
    add(Case("v2 utf-8 encoded surrogate", _infer(_tensors(g)).replace(b"north", b"\xed\xa0\x80"), 400,
             "invalid_json", "region", path=INFER))
    for where, body, fld, rec in [
        ("a string field", _records(g, g | {"region": "\ud800"}), "region", 1),
        ("a key", json.dumps({"records": [g | {"\udc00": 1}]}).encode(), None, 0),
        ("an ignored key", json.dumps({"records": [g], "note": "\ud83d"}).encode(), "note", None),
    ]:
        add(Case(f"lone surrogate in {where}", body, 400, "invalid_json", fld, rec))
    add(Case("v2 lone surrogate in BYTES data", _infer(_tensors(g, region={"data": ["\udfff"]})), 400, "invalid_json",
             "region", path=INFER))
    for name, token in {"1e999": b"1e999", "-1e999": b"-1e999", "Infinity": b"Infinity", "-Infinity": b"-Infinity",
                        "400-digit integer": b"9" * 400, "1e309": b"1e309"}.items():
        body = _records(g).replace(b"52000.0", token)
        add(Case(f"number {name}", body, 400, "out_of_range", "income", 0))
    add(Case("5000-digit integer", _records(g).replace(b"52000.0", b"9" * 5000), 400, "out_of_range", "income", 0))

    # -- v1 body structure
    structure = {"array body": b"[]", "null body": b"null", "number body": b"7", "string body": b'"records"',
                 "no records key": b'{"rows": []}', "records null": b'{"records": null}'}
    for name, body in structure.items():
        add(Case(name, body, 400, "invalid_request", "records"))
    for name, value in {"records object": {}, "records string": "x", "records number": 1}.items():
        add(Case(name, json.dumps({"records": value}).encode(), 400, "invalid_request", "records"))
    add(Case("records empty", _records(), 400, "empty", "records"))
    for name, value in {"list": [], "number": 1, "null": None, "string": "x", "bool": True}.items():
        add(Case(f"record is a {name}", json.dumps({"records": [g, value]}).encode(), 400, "invalid_request",
                 None, 1))
    add(Case("501 records", _records(*[g] * 501), 413, "too_many_records", "records"))
    add(Case("body over the limit", json.dumps({"records": [g], "pad": "x" * (1 << 20)}).encode(), 413,
             "body_too_large"))

    # -- every field: absent, wrong types, out of range
    for name in FIELDS:
        add(Case(f"missing {name}", _records(g, {k: v for k, v in g.items() if k != name}), 400, "missing_field",
                 name, 1))
        wrong = {"a list": [1], "an object": {"v": 1}}
        wrong |= {"a string": "12", "a boolean": True} if name in NUMERIC else {"a number": 7, "a boolean": False}
        for what, value in wrong.items():
            add(Case(f"{name} is {what}", _records(g, g, g | {name: value}), 400, "invalid_type", name, 2))
        add(Case(f"v2 missing {name}", _infer(_tensors(g, **{name: None})), 400, "missing_field", name, path=INFER))
        add(Case(f"v2 {name} wrong datatype", _infer(_tensors(g, **{name: {"datatype": "FP64" if name in STRINGS
                                                                             else "BYTES"}})),
                 400, "invalid_type", name, path=INFER))
        bad = 7 if name in STRINGS else "12"
        add(Case(f"v2 {name} wrong value type", _infer(_tensors(g, **{name: {"data": [bad]}})), 400, "invalid_type",
                 name, 0, path=INFER))
        add(Case(f"csv lacks {name}", _csv([n for n in FIELDS if n != name], [str(g[n]) for n in FIELDS if n != name]),
                 400, "missing_field", name, headers=CSV))
    for name in NUMERIC:
        for value in (1e31, -1e31, 1e39, 3.5e38):
            add(Case(f"{name} = {value:g}", _records(g | {name: value}), 400, "out_of_range", name, 0))
        add(Case(f"v2 {name} = 1e39", _infer(_tensors(g, **{name: {"data": [1e39]}})), 400, "out_of_range", name, 0,
                 path=INFER))
        for cell, code in (("true", "invalid_type"), ("abc", "invalid_type"), ("1e39", "out_of_range"),
                           ("inf", "out_of_range"), ('"1,5"', "invalid_type"), ("0x10", "invalid_type")):
            add(Case(f"csv {name} = {cell}", _csv(FIELDS, _good_row(), _good_row(**{name: cell})), 400, code, name, 1,
                     headers=CSV))
    # -- an integer field (age is int64): a fraction is refused on every path, never truncated
    for token, code in ((b"20.6", "invalid_type"), (b"-0.5", "invalid_type"),
                        (b"99999999999999999999999", "out_of_range"),
                        (b"9223372036854775808", "out_of_range"), (b"-9223372036854775809", "out_of_range"),
                        (b"18446744073709551616", "out_of_range"), (b"1e19", "out_of_range")):
        add(Case(f"age = {token.decode()}", _records(g, g | {"age": "AGE"}).replace(b'"AGE"', token), 400, code,
                 "age", 1))
        add(Case(f"csv age = {token.decode()}", _csv(FIELDS, _good_row(), _good_row(age=token.decode())), 400, code,
                 "age", 1, headers=CSV))
    for datatype in ("INT64", "FP64", "FP32"):
        add(Case(f"v2 {datatype} age [20.5]", _infer(_tensors(g, age={"datatype": datatype, "data": [20.5]})), 400,
                 "invalid_type", "age", 0, path=INFER))
    add(Case("null in a non-nullable field", _records(g, g | {"income": None}), 400, "missing_value", "income", 1,
             path="/v1/models/credit_strict/predict"))
    add(Case("csv empty non-nullable cell", _csv(FIELDS, _good_row(income="")), 400, "missing_value", "income", 0,
             path="/v1/models/credit_strict/predict", headers=CSV))

    # -- CSV structure
    row = _good_row()
    add(Case("csv one cell more", _csv(FIELDS, row, row + ["7"]), 400, "invalid_csv", None, 1, headers=CSV))
    add(Case("csv one cell fewer", _csv(FIELDS, row, row, row[:-1]), 400, "invalid_csv", None, 2, headers=CSV))
    add(Case("csv unquoted comma", _csv(FIELDS, row[:5] + ["north, east", row[6]]), 400, "invalid_csv", None, 0,
             headers=CSV))
    add(Case("csv empty", b"", 400, "empty", "records", headers=CSV))
    add(Case("csv header only", _csv(FIELDS), 400, "empty", "records", headers=CSV))
    add(Case("csv duplicate column", _csv(FIELDS + ["age"], row + ["1"]), 400, "invalid_csv", "age", headers=CSV))
    add(Case("csv unterminated quote", _csv(FIELDS, row[:5] + ['"north', row[6]]), 400, "invalid_csv", headers=CSV))
    add(Case("csv not utf-8", _csv(FIELDS, row).replace(b"north", b"\xffnorth"), 400, "invalid_csv", headers=CSV))
    add(Case("csv 501 records", _csv(FIELDS, *[row] * 501), 413, "too_many_records", "records", headers=CSV))
    add(Case("csv keep absent", _csv(FIELDS, row), 400, "missing_field", "customer_id",
             path=PREDICT + "?keep=customer_id", headers=CSV))
    add(Case("csv application/csv one cell more", _csv(FIELDS, row + ["x"]), 400, "invalid_csv", None, 0,
             headers={"Content-Type": "application/csv"}))

    # -- Open Inference Protocol structure
    t = _tensors(g)
    v2 = {
        "not an object": (b"[]", "invalid_request", "inputs"), "no inputs": (b"{}", "invalid_request", "inputs"),
        "inputs not a list": (_infer({}), "invalid_request", "inputs"),  # type: ignore[arg-type]
        "input not an object": (_infer([*t, 5]), "invalid_request", "inputs"),
        "input without a name": (_infer([*t[:-1], {"datatype": "BYTES", "shape": [1], "data": ["x"]}]),
                                 "invalid_request", "inputs"),
        "unknown input": (_infer([*t, {**t[0], "name": "colour"}]), "invalid_request", "inputs"),
        "input twice": (_infer([*t, t[0]]), "invalid_request", "inputs"),
        "id not a string": (_infer(t, id=5), "invalid_request", "id"),
        "parameters not an object": (_infer(t, parameters=[1]), "invalid_request", "parameters"),
        "outputs not a list": (_infer(t, outputs={"name": "label"}), "invalid_request", "outputs"),
        "unknown output": (_infer(t, outputs=[{"name": "score"}]), "invalid_request", "outputs"),
        "output without a name": (_infer(t, outputs=[{}]), "invalid_request", "outputs"),
        "binary_data not a boolean": (_infer(t, outputs=[{"name": "label", "parameters": {"binary_data": "yes"}}]),
                                      "invalid_request", "outputs"),
        "binary_data_output not a boolean": (_infer(t, parameters={"binary_data_output": 1}), "invalid_request",
                                             "parameters"),
        "output parameters not an object": (_infer(t, outputs=[{"name": "label", "parameters": 3}]),
                                            "invalid_request", "outputs"),
        "rows disagree": (_infer(_tensors(g, age={"shape": [2], "data": [1, 2]})), "invalid_shape", "age"),
        "zero rows": (_infer([{**x, "shape": [0], "data": []} for x in t]), "empty", "income"),
    }
    shapes = {"a string": "1", "empty": [], "[0]": [0], "[2] for one value": [2], "[1, 2]": [1, 2], "negative": [-1],
              "fractional": [1.5], "three dimensions": [1, 1, 1], "boolean": [True]}
    for what, shape in shapes.items():
        v2[f"income shape {what}"] = (_infer(_tensors(g, income={"shape": shape})), "invalid_shape", "income")
    v2["income data not a list"] = (_infer(_tensors(g, income={"data": 1})), "invalid_request", "income")
    v2["income data too deep"] = (_infer(_tensors(g, income={"data": [[[1]]]})), "invalid_shape", "income")
    v2["datatype not a string"] = (_infer(_tensors(g, income={"datatype": {"x": 1}})), "invalid_type", "income")
    v2["unknown datatype"] = (_infer(_tensors(g, income={"datatype": "FP128"})), "invalid_type", "income")
    for what, (body, code, fld) in v2.items():
        add(Case(f"v2 {what}", body, 400, code, fld, path=INFER))
    add(Case("v2 BOOL tensor with text", _infer(_tensors(g, age={"datatype": "BOOL", "data": ["AAA"]})), 400,
             "invalid_type", "age", 0, path=INFER))

    # -- the binary tensor data extension
    def binary(what: str, body_headers: tuple[bytes, dict], code: str, fld: str | None, status: int = 400,
               record: int | None = None) -> None:
        body, headers = body_headers
        add(Case(f"v2 binary {what}", body, status, code, fld, record, path=INFER, headers=headers))

    body, headers = _binary(_good_binary())
    binary("header length not a number", (body, {"Inference-Header-Content-Length": "ten"}), "invalid_request",
           "Inference-Header-Content-Length")
    binary("header length past the body", (body, {"Inference-Header-Content-Length": str(len(body) + 1)}),
           "invalid_request", "Inference-Header-Content-Length")
    binary("header length cuts the JSON", (body, {"Inference-Header-Content-Length": "10"}), "invalid_json", None)
    binary("data missing", (body[:-3], headers), "invalid_request", "inputs")
    binary("data left over", (body + b"\0", headers), "invalid_request", "inputs")
    binary("FP64 of 7 bytes", _binary(_good_binary(income=("FP64", b"\0" * 7))), "invalid_shape", "income")
    binary("FP64 of 2 values for shape [1]", _binary(_good_binary(income=("FP64", b"\0" * 16))), "invalid_shape",
           "income")
    binary("BYTES length cut", _binary(_good_binary(region=("BYTES", b"\x05\0"))), "invalid_request", "region")
    binary("BYTES element past the end", _binary(_good_binary(region=("BYTES", b"\x09\0\0\0north"))),
           "invalid_request", "region")
    binary("BYTES not utf-8", _binary(_good_binary(region=("BYTES", b"\x02\0\0\0\xff\xfe"))), "invalid_type",
           "region", record=0)
    binary("FP64 infinity", _binary(_good_binary(age=("FP64", struct.pack("<d", float("inf"))))), "out_of_range",
           "age", record=0)
    binary("FP32 above the bound", _binary(_good_binary(age=("FP32", struct.pack("<f", 3e38)))), "out_of_range",
           "age", record=0)
    for what, tensor in {"UINT8 data 300": {"datatype": "UINT8", "data": [300]},
                         "INT32 data 2**40": {"datatype": "INT32", "data": [2**40]},
                         "INT8 data -129": {"datatype": "INT8", "data": [-129]},
                         "UINT64 data -1": {"datatype": "UINT64", "data": [-1]},
                         # nested [n, 1] data, just past INT64 (float64 would round it onto the maximum)
                         "INT64 data [[2**63]]": {"datatype": "INT64", "data": [[2**63]]},
                         "INT64 data -2**63-1": {"datatype": "INT64", "data": [-2**63 - 1]}}.items():
        add(Case(f"v2 age {what}", _infer(_tensors(g, age=tensor)), 400, "invalid_type", "age", 0, path=INFER))
    add(Case("v2 income INT64 data 52000.5", _infer(_tensors(g, income={"datatype": "INT64", "data": [52000.5]})), 400,
             "invalid_type", "income", 0, path=INFER))
    binary("FP64 age 20.6", _binary(_good_binary(age=("FP64", struct.pack("<d", 20.6)))), "invalid_type", "age",
           record=0)
    binary("FP32 age 20.5", _binary(_good_binary(age=("FP32", struct.pack("<f", 20.5)))), "invalid_type", "age",
           record=0)
    binary("UINT64 age 2**63", _binary(_good_binary(age=("UINT64", struct.pack("<Q", 2**63)))), "out_of_range", "age",
           record=0)
    head = {"inputs": [{"name": "income", "datatype": "FP64", "shape": [1], "data": [1.0],
                        "parameters": {"binary_data_size": 8}}]}
    binary("both data and binary_data_size", _binary([("income", "FP64", b"\0" * 8)], head), "invalid_request",
           "income")
    head = {"inputs": [{"name": "income", "datatype": "FP64", "shape": [1], "parameters": {"binary_data_size": -8}}]}
    binary("negative binary_data_size", _binary([], head), "invalid_request", "income")
    binary("text/plain", (body, {**headers, "Content-Type": "text/plain"}), "unsupported_media_type", None, 415)
    # -- compressed bodies (gzip, deflate) on every path: unknown codings, corrupt or cut streams, bombs
    bad_binary, _ = _binary(_good_binary(age=("FP64", struct.pack("<d", 20.6))))
    coded = {"v1": (PREDICT, _records(g), JSON, _records(g | {"age": 20.6})),
             "csv": (PREDICT, _csv(FIELDS, _good_row()), CSV, _csv(FIELDS, _good_row(age="20.6"))),
             "v2": (INFER, _infer(_tensors(g)), {}, _infer(_tensors(g, age={"data": [20.6]}))),
             "v2 binary": (INFER, body, headers, bad_binary)}
    for kind, (path, plain, hdrs, bad) in coded.items():
        def coding(what: str, data: bytes, encoding: str, status: int, code: str, fld: str | None = "Content-Encoding",
                   record: int | None = None, path: str = path, hdrs: dict = hdrs, kind: str = kind) -> None:
            add(Case(f"{kind} {what}", data, status, code, fld, record, path=path,
                     headers={**hdrs, "Content-Encoding": encoding}))
        coding("Content-Encoding br", plain, "br", 415, "unsupported_media_type")
        coding("Content-Encoding gzip, zstd", gzip.compress(plain), "gzip, zstd", 415, "unsupported_media_type")
        coding("corrupt gzip", b"\x1f\x8b" + plain, "gzip", 400, "invalid_request")
        coding("gzip cut short", gzip.compress(plain)[:-12], "gzip", 400, "invalid_request")
        coding("gzip with bytes after it", gzip.compress(plain) + b"xx", "gzip", 400, "invalid_request")
        coding("corrupt deflate", b"\x78\x9c" + plain, "deflate", 400, "invalid_request")
        coding("gzip bomb", gzip.compress(b" " * (2 << 20)), "gzip", 413, "body_too_large", None)
        coding("deflate bomb", zlib.compress(b" " * (2 << 20)), "deflate", 413, "body_too_large", None)
        coding("gzip of a fraction for age", gzip.compress(bad), "gzip", 400, "invalid_type", "age", 0)
        coding("deflate of a fraction for age", zlib.compress(bad), "deflate", 400, "invalid_type", "age", 0)

    # -- media types, methods, paths
    add(Case("text/plain body", _records(g), 415, "unsupported_media_type", headers={"Content-Type": "text/plain"}))
    add(Case("no Content-Type on v1", _records(g), 415, "unsupported_media_type", headers={}))
    add(Case("multipart body", _records(g), 415, "unsupported_media_type",
             headers={"Content-Type": "multipart/form-data; boundary=x"}))
    add(Case("v2 text/csv", _infer(_tensors(g)), 415, "unsupported_media_type", path=INFER, headers=CSV))
    add(Case("unknown model", _records(g), 404, "model_not_found", path="/v1/models/nope/predict"))
    add(Case("unknown version", _records(g), 404, "version_not_found",
             path="/v1/models/credit_risk/versions/9/predict"))
    add(Case("v2 unknown model", _infer(_tensors(g)), 404, "model_not_found", path="/v2/models/nope/infer"))
    add(Case("v2 unknown version", _infer(_tensors(g)), 404, "version_not_found",
             path="/v2/models/credit_risk/versions/9/infer"))
    add(Case("unknown path", b"", 404, "not_found", path="/v1/nothing", method="GET"))
    add(Case("v2 unknown path", b"", 404, "not_found", path="/v2/nothing", method="GET"))
    add(Case("v2 ready of an unknown version", b"", 404, "version_not_found", method="GET",
             path="/v2/models/credit_risk/versions/9/ready"))
    for method, path, allow in (("GET", PREDICT, "OPTIONS, POST"), ("PUT", PREDICT, "OPTIONS, POST"),
                                ("DELETE", "/v1/models", "GET, HEAD, OPTIONS"), ("GET", INFER, "OPTIONS, POST"),
                                ("POST", "/v2/health/ready", "GET, HEAD, OPTIONS"),
                                ("PATCH", "/readyz", "GET, HEAD, OPTIONS")):
        add(Case(f"{method} {path}", b"", 405, "method_not_allowed", path=path, method=method, allow=allow))
    add(Case("admin without token configured", b"", 404, "admin_disabled", path="/v1/admin/reload"))
    return out


CASES = cases()


def test_there_are_enough_kinds() -> None:
    assert len(CASES) >= 184 and len({c.id for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def workers_before(service: str) -> Iterator[list[int]]:
    pids = worker_pids(service)
    yield pids
    assert worker_pids(service) == pids, "a worker restarted during the battery"


def _error(case: Case, status: int, headers: dict, body: bytes) -> dict:
    assert status == case.status, (case.id, status, body[:300])
    assert headers.get("Content-Type") == "application/json", (case.id, headers)
    payload = json.loads(body)
    if case.v2:  # the Open Inference Protocol's form: the message is a string
        assert isinstance(payload["error"], str) and payload["error"], payload
        error = {**payload, "message": payload["error"]}
    else:
        error = payload["error"]
        assert isinstance(error["message"], str) and error["message"], payload
    assert (error["code"], error["field"], error["record"]) == (case.code, case.field, case.record), (case.id, error)
    if case.allow is not None:
        assert headers.get("Allow") == case.allow, (case.id, headers)
    return error


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_request_gets_its_4xx(service: str, workers_before: list[int], case: Case) -> None:
    r = requests.request(case.method, service + case.path, data=case.body, headers=case.headers, timeout=30)
    _error(case, r.status_code, dict(r.headers), r.content)


def test_no_request_of_the_battery_was_a_server_error(service: str, workers_before: list[int]) -> None:
    text = requests.get(f"{service}/metrics").text
    assert not [line for line in text.splitlines() if line.startswith("scorebridge_requests_total")
                and 'status="5' in line]


# -- the v1 JSON fast path answers every v1 JSON case exactly as the Flask view does ------------------
FAST = [c for c in CASES if c.method == "POST" and c.path.startswith("/v1/models/") and c.path.endswith("/predict")
        and c.headers.get("Content-Type") == "application/json"]


@pytest.fixture(scope="module")
def app(service_repo: Path) -> Iterator:
    app = create_app(ServiceConfig(repo=service_repo, poll_interval=0, audit_log=None, max_records=500,
                                   max_body_bytes=1 << 20))
    yield app
    app.extensions["scorebridge"].registry.stop()


@pytest.mark.parametrize("case", FAST, ids=[c.id for c in FAST])
def test_fast_path_and_flask_answer_alike(app, case: Case) -> None:
    answers = []
    for wsgi in (app.wsgi_app, app.wsgi_app.wsgi_app):  # the fast path, then Flask's own
        r = Client(wsgi).post(case.path, data=case.body, headers={**case.headers, "X-Request-ID": "battery"})
        answers.append((r.status_code, sorted(r.headers.items()), r.get_data()))
    assert answers[0] == answers[1]
    _error(case, answers[0][0], dict(answers[0][1]), answers[0][2])


# -- a body shorter than its Content-Length, sent for real (the client half-closes) ------------------
def _raw(service: str, data: bytes, *, half_close: bool = False, timeout: float = 15) -> tuple[int, dict, bytes]:
    host, port = service.rsplit("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _truncated(path: str, content_type: str, body: bytes) -> bytes:
    half = body[: len(body) // 2]
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + half


@pytest.mark.parametrize(("kind", "path", "content_type", "body"), [
    ("json", PREDICT, "application/json", _records(*[GOOD] * 1000)),
    ("csv", PREDICT, "text/csv", _csv(FIELDS, *[_good_row()] * 1000)),
    ("v2", INFER, "application/json", _infer(_tensors(GOOD))),
])
def test_a_body_shorter_than_its_content_length_is_a_400(service: str, workers_before: list[int], kind: str,
                                                         path: str, content_type: str, body: bytes) -> None:
    status, headers, answer = _raw(service, _truncated(path, content_type, body), half_close=True)
    case = Case(f"truncated {kind}", b"", 400, "incomplete_body", path=path)
    _error(case, status, headers, answer)


# -- what gunicorn answers before the app runs ---------------------------------------------------------
GUNICORN = [
    ("bad request line", b"GARBAGE\r\n\r\n", 400, "invalid_request"),
    ("bad method", b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    ("bad http version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    ("header too large", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "headers_too_large"),
    ("too many headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
     + b"\r\n", 431, "headers_too_large"),
    ("uri too long", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    ("invalid header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "invalid_request"),
    ("NUL in a header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "invalid_request"),
    ("bad chunk size", b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", 400, "invalid_request"),
    ("v2 path, bad chunk size", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
     b"\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", 400, "invalid_request"),
]


@pytest.mark.parametrize(("request_bytes", "status", "code"), [g[1:] for g in GUNICORN], ids=[g[0] for g in GUNICORN])
def test_errors_gunicorn_answers_have_the_json_body(service: str, workers_before: list[int], request_bytes: bytes,
                                                    status: int, code: str) -> None:
    got, headers, body = _raw(service, request_bytes)
    v2 = b" /v2/" in request_bytes.split(b"\r\n", 1)[0]
    _error(Case("gunicorn", b"", status, code, path="/v2/x" if v2 else PREDICT), got, headers, body)


def test_the_answers_never_show_the_repository(service: str, service_repo: Path) -> None:
    for path in ("/readyz", "/v1/models", "/v1/models/credit_risk", "/openapi.json", "/metrics", "/v2/models/nope"):
        assert str(service_repo.parent) not in requests.get(service + path).text, path


def test_the_builders_good_requests_are_accepted(service: str) -> None:
    """Each malformed case differs from one of these by what it breaks: they must score."""
    body, headers = _binary(_good_binary())
    for path, data, hdrs in ((PREDICT, _records(GOOD), JSON), (PREDICT, _csv(FIELDS, _good_row()), CSV),
                             (INFER, _infer(_tensors(GOOD)), JSON), (INFER, body, headers),
                             (INFER, gzip.compress(body), {**headers, "Content-Encoding": "gzip"}),
                             (PREDICT, gzip.compress(_records(GOOD)), {**JSON, "Content-Encoding": "gzip"}),
                             (PREDICT, zlib.compress(_csv(FIELDS, _good_row())),
                              {**CSV, "Content-Encoding": "deflate"})):
        r = requests.post(service + path, data=data, headers=hdrs)
        assert r.status_code == 200, (path, hdrs, r.text[:300])
