"""What a new client sends that the rest of the suite does not, against the real server: whole numbers
written as floats for an integer field, compressed bodies (tritonclient's own compression, curl,
httpx), duplicate keys, OPTIONS, other clients' bodies (pandas ``to_json``, Spark ``toJSON``),
chunked bodies with trailers, HTTP/1.0 and pipelined requests.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import pytest
import requests

PREDICT = "/v1/models/credit_risk/predict"
INFER = "/v2/models/credit_risk/infer"
FIELDS = ["income", "debt_ratio", "age", "credit_lines", "late_payments", "region", "employment"]
GOOD = {"income": 52000.0, "debt_ratio": 0.31, "age": 41, "credit_lines": 3.0, "late_payments": 0.0,
        "region": "north", "employment": "salaried"}


def v1_body(age: str) -> bytes:
    return json.dumps({"records": [GOOD | {"age": "AGE"}]}).encode().replace(b'"AGE"', age.encode())


def csv_body(age: str) -> bytes:
    return (",".join(FIELDS) + "\n" + ",".join(age if n == "age" else str(GOOD[n]) for n in FIELDS) + "\n").encode()


def v2_body(age: str, datatype: str = "INT64") -> bytes:
    inputs = [{"name": n, "datatype": "BYTES" if isinstance(GOOD[n], str) else "FP64", "shape": [1],
               "data": [GOOD[n]]} for n in FIELDS]
    inputs[2] = {"name": "age", "datatype": datatype, "shape": [1, 1], "data": ["AGE"]}
    return json.dumps({"inputs": inputs}).encode().replace(b'"AGE"', age.encode())


def v2_binary(age: float) -> tuple[bytes, dict]:
    inputs, raw = [], b""
    for n in FIELDS:
        if isinstance(GOOD[n], str):
            data, datatype = struct.pack("<I", len(GOOD[n])) + GOOD[n].encode(), "BYTES"
        else:
            data, datatype = struct.pack("<d", age if n == "age" else GOOD[n]), "FP64"
        inputs.append({"name": n, "datatype": datatype, "shape": [1], "parameters": {"binary_data_size": len(data)}})
        raw += data
    head = json.dumps({"inputs": inputs}).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


def probability(service: str, path: str, body: bytes, headers: dict) -> float:
    r = requests.post(service + path, data=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text[:300]
    if path == INFER:
        return next(o for o in r.json()["outputs"] if o["name"] == "probability_1")["data"][0]
    if headers.get("Content-Type") == "text/csv":
        return float(r.text.splitlines()[1].split(",")[2])
    return r.json()["predictions"][0]["probabilities"]["1"]


@pytest.mark.parametrize("spelling", ["20.0", "2e1", "20.000", "0.2e2"])
def test_a_whole_number_written_as_a_float_is_the_integer_on_every_path(service: str, spelling: str) -> None:
    """JSON's and pandas' sense (JPMML's too): 20.0 for an int64 field is 20, on every path."""
    json_type = {"Content-Type": "application/json"}
    want = probability(service, PREDICT, v1_body("20"), json_type)
    assert want != probability(service, PREDICT, v1_body("41"), json_type)  # age matters to this model
    assert probability(service, PREDICT, v1_body(spelling), json_type) == want
    assert probability(service, PREDICT, csv_body(spelling), {"Content-Type": "text/csv"}) == want
    for datatype in ("INT64", "FP64"):
        assert probability(service, INFER, v2_body(spelling, datatype), {}) == want
    assert probability(service, INFER, *v2_binary(float(spelling))) == want


def test_int64_bounds_are_exact(service: str) -> None:
    for age in ("9223372036854775807", "-9223372036854775808"):
        r = requests.post(service + PREDICT, data=v1_body(age), headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (age, r.text)
        r = requests.post(service + PREDICT, data=csv_body(age), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, (age, r.text)
    r = requests.post(service + PREDICT, data=v1_body("9223372036854775808"),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "out_of_range"
    assert r.json()["error"]["message"] == ("field 'age' expects an integer within int64 (-9223372036854775808 to "
                                            "9223372036854775807), got 9223372036854775808 in record 0")


def test_options_answers_204_with_allow_and_no_type(service: str) -> None:
    for path, allow in ((PREDICT, {"OPTIONS", "POST"}), (INFER, {"OPTIONS", "POST"}),
                        ("/v1/models", {"GET", "HEAD", "OPTIONS"})):
        r = requests.options(service + path)
        assert r.status_code == 204 and r.content == b"", (path, r.status_code, r.content)
        assert "Content-Type" not in r.headers, r.headers
        assert set(r.headers["Allow"].split(", ")) == allow


def test_a_repeated_key_in_a_record_takes_its_last_value_on_every_path(service: str) -> None:
    """The documented rule (RFC 8259 leaves it to the parser; orjson, msgspec, Jackson and Python agree):
    the last value wins, on the fast path and the validating path (which a ``NaN`` token sends it down)."""
    json_type = {"Content-Type": "application/json"}
    last = probability(service, PREDICT, v1_body("20"), json_type)
    repeated = v1_body("20").replace(b'"age": 20', b'"age": 41, "age": 20')
    assert probability(service, PREDICT, repeated, json_type) == last
    validating = repeated.replace(b'"late_payments": 0.0', b'"late_payments": NaN')
    assert probability(service, PREDICT, validating, json_type) == probability(
        service, PREDICT, v1_body("20").replace(b'"late_payments": 0.0', b'"late_payments": null'), json_type)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate", "gzip, gzip", "two gzip members"])
def test_compressed_bodies_score_as_plain_ones(service: str, coding: str) -> None:
    def squeeze(body: bytes) -> tuple[bytes, str]:
        if coding == "raw deflate":
            packer = zlib.compressobj(wbits=-15)
            return packer.compress(body) + packer.flush(), "deflate"
        if coding == "gzip, gzip":
            return gzip.compress(gzip.compress(body)), coding
        if coding == "two gzip members":
            return gzip.compress(body[:10]) + gzip.compress(body[10:]), "gzip"
        return (gzip.compress if coding == "gzip" else zlib.compress)(body), coding

    want = probability(service, PREDICT, v1_body("20"), {"Content-Type": "application/json"})
    for path, body, headers in ((PREDICT, v1_body("20"), {"Content-Type": "application/json"}),
                                (PREDICT, csv_body("20"), {"Content-Type": "text/csv"}),
                                (INFER, v2_body("20"), {}), (INFER, *v2_binary(20.0))):
        data, encoding = squeeze(body)
        assert probability(service, path, data, {**headers, "Content-Encoding": encoding}) == want, (path, coding)
