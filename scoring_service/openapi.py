"""The OpenAPI 3.1 document served at ``GET /openapi.json`` (prose reference: ``docs/api.md``).

The document is exact for what this server serves now: every served model version has its own
predict and infer paths whose request schema is typed from its input schema (every field
required, the types the server accepts, numbers within ±``MAX_MAGNITUDE``, ``maxItems`` =
``--max-records``), and whose answer types the label and each probability. The templated paths
(``/v1/models/{name}/predict``, ...) are documented for the names this server does *not* serve,
which it answers 404; concrete paths match before templated ones. V2 paths document the
Open Inference Protocol's error body. The admin path is in the document only when admin endpoints
are on. The document is rebuilt when a reload changes what is served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

import scorebridge
from scorebridge.bundle import TASKS
from scorebridge.prediction import class_text
from scorebridge.schema import INT64_MAX, INT64_MIN
from scoring_service.finite import MAX_MAGNITUDE

if TYPE_CHECKING:
    from scorebridge.schema import Field
    from scoring_service.registry import LoadedModel

V2_NUMERIC = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"]
OBJ: dict[str, Any] = {"type": "object"}
STR: dict[str, Any] = {"type": "string"}
SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _error(v2: bool, description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("V2Error" if v2 else "Error"))}


_REQUEST_ID = {"X-Request-ID": {"description": "the caller's X-Request-ID (at most 128 printable characters), or a "
                                "new id", "schema": STR}}


def _op(op_id: str, summary: str, ok: dict[str, Any], *, params: list | None = None, body: dict | None = None,
        errors: dict[int, str] | None = None, v2: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": summary, "parameters": params or [],
                           "responses": {"200": ok, **{str(code): _error(v2, text) for code, text in
                                                       (errors or {}).items()}, **(extra or {})}}
    if body is not None:
        out["requestBody"] = {"required": True, "content": body}
    return out


def _ok(schema: dict[str, Any], description: str = "OK", headers: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        out["headers"] = headers
    return out


_PREDICT_ERRORS = {400: "a record does not fit the model's input schema (the body names field and record)",
                   404: "no such model or version", 413: "more records than --max-records, or a body over "
                   "--max-body-mb", 415: "neither application/json nor text/csv",
                   500: "the engine failed: use your default value"}
_INFER_ERRORS = {**_PREDICT_ERRORS, 415: "a Content-Type other than application/json (or application/octet-stream "
                 "with binary tensors)"}
_CSV_REQUEST = {"text/csv": {"schema": {"type": "string", "description": "a header row naming every input field, then "
                                                   "one row per record with one cell per header column"}}}
# the cells of a CSV record as a regular expression: enough to describe a model's CSV exactly for
# generators and contract testers (the server also takes quoting, other column orders, extra columns)
_CSV_NUMBER = r"[ ]*-?(0|[1-9][0-9]{0,9})(\.[0-9]{1,6})?([eE][+-]?[0-9])?[ ]*"
_CSV_CELL = {"number": _CSV_NUMBER, "integer": r"[ ]*-?(0|[1-9][0-9]{0,9})[ ]*",
             "bool": f"(true|True|TRUE|false|False|FALSE|{_CSV_NUMBER})",
             "string": r'[^,"\r\n]*[^,"\r\n ]'}


def _csv_pattern(model: LoadedModel, max_records: int) -> str:
    cells = []
    for f in model.schema.fields:
        cell = _CSV_CELL["string" if not f.is_numeric else "bool" if f.dtype == "bool" else
                         "integer" if f.dtype == "int64" else "number"]
        cells.append(f"({cell})?" if f.nullable else f"({cell})")
    header = ",".join(re.escape(n) for n in model.schema.names)
    return f"^{header}(\\n{','.join(cells)}){{1,{max_records}}}\\n?$"
_CSV_ANSWER = {"text/csv": {"schema": {"type": "string", "description": "?keep columns, then label, "
                                                  "probability_<class>... or prediction"}}}


def _field_schema(field: Field) -> dict[str, Any]:
    """JSON Schema of one input field's value as the server accepts it."""
    number = ({"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX} if field.dtype == "int64" else
              {"type": "number", "minimum": -MAX_MAGNITUDE, "maximum": MAX_MAGNITUDE})
    choices: list[dict[str, Any]] = ([{"type": "string"}] if not field.is_numeric else
                                     [{"type": "boolean"}, number] if field.dtype == "bool" else [number])
    if field.nullable:
        choices.append({"type": "null"})
    out: dict[str, Any] = choices[0] if len(choices) == 1 else {"anyOf": choices}
    notes = [f"{field.dtype}, {field.optype}"]
    if field.nullable:
        notes.append("null: missing, scored as the model scores missing values")
    if field.categories is not None and field.strict:  # the model refuses any other value
        choices[0] = {"enum": list(field.categories)}
        out = choices[0] if len(choices) == 1 else {"anyOf": choices}
        notes.append("one of the categories seen in training (the model's encoder refuses others)")
    elif field.categories is not None:
        out = {**out, "examples": list(field.categories)}
        notes.append("categories seen in training: " + ", ".join(map(str, field.categories))
                     + "; other values are scored as unseen and counted")
    return {**out, "description": "; ".join(notes)}


def _tensor_schema(f: Field, max_records: int) -> dict[str, Any]:
    """JSON Schema of the V2 JSON tensor of field ``f``: one variant per kind of datatype, since the
    values a tensor may hold depend on its datatype (``UINT8`` data within 0..255, integers only in
    an integer tensor or for an integer field, true/false in a ``BOOL`` one)."""
    value = {k: v for k, v in _field_schema(f).items() if k not in ("description", "examples")}
    variants: list[tuple[list[str], dict[str, Any]]] = []
    if not f.is_numeric:
        variants.append((["BYTES"], value))
    else:
        null = [{"type": "null"}] if f.nullable else []
        plain = [c for c in value.get("anyOf", [value]) if c.get("type") in ("number", "integer")]
        variants.append((["FP16", "FP32", "FP64"], value))
        # true/false as 1/0 (the server also takes the field's numbers there)
        variants.append((["BOOL"], {"anyOf": [{"type": "boolean"}, *value.get("anyOf", [value])]}))
        for datatype in V2_NUMERIC:
            if datatype.startswith(("INT", "UINT")):
                info = np.iinfo(datatype.lower())
                bounded = [{"type": "integer", "minimum": max(info.min, c.get("minimum", info.min)),
                            "maximum": min(info.max, c.get("maximum", info.max))} for c in plain]
                variants.append(([datatype], {"anyOf": [*bounded, *null]} if null or len(bounded) > 1
                                 else bounded[0]))
    shape = {"type": "array", "minItems": 1, "maxItems": 2,
             "items": {"type": "integer", "minimum": 1, "maximum": max_records}}
    one = [{"type": "object", "required": ["name", "datatype", "shape", "data"], "properties": {
        "name": {"const": f.name}, "datatype": {"enum": datatypes}, "shape": shape,
        "data": {"type": "array", "minItems": 1, "maxItems": max_records,
                 "items": {"anyOf": [item, {"type": "array", "minItems": 1, "maxItems": 1, "items": item}]}},
        # binary_data_size (the binary extension) replaces data: not in a JSON request
        "parameters": {"type": "object", "propertyNames": {"not": {"const": "binary_data_size"}}}}}
        for datatypes, item in variants]
    return {**(one[0] if len(one) == 1 else {"anyOf": one}),
            "description": f"input {f.name!r}: shape [n] or [n, 1], and n values in data"}


def _key(name: str, version: str | None = None) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return key if version is None else f"{key}_v{re.sub(r'[^A-Za-z0-9._-]', '_', version)}"


FEATURES = {"description": "a keyed record's feature lookup (--feature-store): the batch its absent inputs came "
                           "from (null: no batch holds the key, or the store did not answer) and whether it is the "
                           "previous batch; or the error (the absent inputs were scored as missing)",
            "anyOf": [{"type": "object", "required": ["batch", "fallback"], "additionalProperties": False,
                       "properties": {"batch": {"type": ["string", "null"], "format": "date"},
                                      "fallback": {"type": "boolean"}}},
                      {"type": "object", "required": ["batch", "error"], "additionalProperties": False,
                       "properties": {"batch": {"type": "null"}, "error": {"enum": ["timeout", "unavailable"]}}}]}


def _model_schemas(model: LoadedModel, key: str, max_records: int, entity: str | None = None) -> dict[str, Any]:
    """The component schemas of one model version: its records, predictions and V2 tensors (``entity``:
    the key field of its feature set, when records may be sent by key)."""
    fields = model.schema.fields
    properties = {f.name: _field_schema(f) for f in fields}
    record: dict[str, Any] = {"type": "object", "required": model.schema.names, "properties": properties,
                              "description": f"one record for {model.name} (every input field; other keys are "
                                             "ignored)"}
    if entity is not None:
        key_schema = {"anyOf": [{"type": "string"}, {"type": "integer"}],
                      "description": "the entity key of the model's feature set: inputs left out come from the "
                                     "store"}
        record = {"anyOf": [record, {"type": "object", "required": [entity],
                                     "properties": {**properties, entity: key_schema},
                                     "description": f"a record by key: {entity!r} and any of the inputs (an input "
                                                    "sent wins over the store's value)"}]}
    if model.bundle.is_classifier:
        classes = [class_text(c) for c in model.bundle.classes]
        prediction = {"type": "object", "required": ["label", "probabilities"], "properties": {
            "label": {"enum": list(model.bundle.classes)},
            "probabilities": {"type": "object", "required": classes,
                              "properties": {c: {"type": "number"} for c in classes}},
            "features": FEATURES}}
    else:
        prediction = {"type": "object", "required": ["prediction"], "properties": {"prediction": {"type": "number"},
                                                                                   "features": FEATURES}}
    tensors = [_tensor_schema(f, max_records) for f in fields]
    outputs = model.bundle.output_columns
    return {
        f"Record_{key}": record,
        f"PredictRequest_{key}": {"type": "object", "required": ["records"], "properties": {
            "records": {"type": "array", "minItems": 1, "maxItems": max_records, "items": _ref(f"Record_{key}")}}},
        f"Prediction_{key}": prediction,
        f"PredictResponse_{key}": {"allOf": [_ref("PredictResponse"), {"type": "object", "properties": {
            "predictions": {"type": "array", "items": _ref(f"Prediction_{key}")}}}]},
        f"InferRequest_{key}": {
            "type": "object", "required": ["inputs"],
            "description": "one input per model field, each once, all with the same n (JSON Schema cannot say "
                           "that shape[0] equals the number of values: the server answers 400 when they differ)",
            "properties": {
                "id": STR, "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
                "inputs": {"type": "array", "minItems": len(fields), "maxItems": len(fields), "prefixItems": tensors},
                "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"enum": outputs},
                    "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}}}}}}},
    }


def _common_schemas(max_records: int) -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    tensor_meta = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": STR, "datatype": STR, "shape": {"type": "array", "items": {"type": "integer"}}}}
    summary = {"type": "object", "required": ["name", "versions", "latest", "task"], "properties": {
        "name": STR, "versions": {"type": "array", "items": STR}, "latest": STR, "task": STR,
        "not_loaded": {"type": "array", "items": STR}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "field", "record"], "properties": {
                "code": STR, "message": STR, "field": nullable_str, "record": {"type": ["integer", "null"]}}}}},
        "V2Error": {"type": "object", "required": ["error", "code", "field", "record"], "properties": {
            "error": {"type": "string", "description": "the message"}, "code": STR, "field": nullable_str,
            "record": {"type": ["integer", "null"]}}},
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Readiness": {"type": "object", "required": ["status", "models", "refused"], "properties": {
            "status": {"enum": ["ready", "not_ready"]},
            "models": {"type": "object", "additionalProperties": STR, "description": "name: latest version served"},
            "refused": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": STR},
                        "description": "name: {version: why it is refused} (paths relative to the repository)"}}},
        "PredictResponse": {"type": "object", "required": ["model", "version", "engine", "request_id", "predictions"],
                            "properties": {"model": STR, "version": STR, "engine": STR, "request_id": STR,
                                           "predictions": {"type": "array", "items": OBJ}}},
        "PredictRequest": {"type": "object", "required": ["records"], "properties": {
            "records": {"type": "array", "minItems": 1, "maxItems": max_records, "items": OBJ}}},
        "ModelSummary": summary,
        "ModelList": {"type": "object", "required": ["models"], "properties": {
            "models": {"type": "array", "items": _ref("ModelSummary")}}},
        "ModelVersion": {"type": "object", "required": ["name", "version", "task", "engine", "inputs", "outputs"],
                         "properties": {
                             "name": STR, "version": STR, "task": {"enum": list(TASKS)},
                             "target": nullable_str, "classes": {"type": "array", "items": SCALAR},
                             "model_family": nullable_str,
                             "created_at": nullable_str, "engine": STR, "batch_engine": STR,
                             "artifacts": {"type": "array", "items": STR},
                             "excluded": {"type": "object", "additionalProperties": STR},
                             "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "dtype"]}},
                             "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "dtype"]}},
                             "tolerance": {"type": ["object", "null"]}, "fidelity": {"type": ["object", "null"]},
                             "libraries": {"type": ["object", "null"]}}},
        "ModelDetail": {"allOf": [_ref("ModelSummary"), {"type": "object", "required": ["latest_version"],
                                                          "properties": {"latest_version": _ref("ModelVersion")}}]},
        "ReloadReport": {"type": "object", "required": ["loaded", "unchanged", "removed", "refused", "error",
                                                        "workers_pending", "models"], "properties": {
            "loaded": {"type": "array", "items": STR}, "unchanged": {"type": "array", "items": STR},
            "removed": {"type": "array", "items": STR}, "refused": {"type": "object", "additionalProperties": STR},
            "error": nullable_str, "workers_pending": {"type": "array", "items": {"type": "integer"}},
            "models": {"type": "object", "additionalProperties": STR}}},
        "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {
            "name": STR, "version": STR, "extensions": {"type": "array", "items": STR}}},
        "ModelMetadata": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
                          "properties": {"name": STR, "versions": {"type": "array", "items": STR}, "platform": STR,
                                         "inputs": {"type": "array", "items": tensor_meta},
                                         "outputs": {"type": "array", "items": tensor_meta}}},
        "InferResponse": {"type": "object", "required": ["model_name", "model_version", "outputs"], "properties": {
            "model_name": STR, "model_version": STR, "id": STR, "parameters": OBJ,
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "datatype", "shape"],
                                                   "properties": {"name": STR, "datatype": STR,
                                                                  "shape": {"type": "array",
                                                                            "items": {"type": "integer"}},
                                                                  "data": {"type": "array", "items": SCALAR},
                                                                  "parameters": OBJ}}}}},
    }


def _predict(op_id: str, summary: str, request: str, answer: str, params: list,
             csv: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"post": _op(op_id, summary, {"description": "predictions in input order", "headers": _REQUEST_ID,
                                         "content": {**_json(_ref(answer)), **_CSV_ANSWER}},
                        params=params, body={**_json(_ref(request)), **(csv or _CSV_REQUEST)}, errors=_PREDICT_ERRORS)}


def _csv_body(model: LoadedModel, max_records: int) -> dict[str, Any]:
    return {"text/csv": {"schema": {"type": "string", "pattern": _csv_pattern(model, max_records),
                                    "description": _CSV_REQUEST["text/csv"]["schema"]["description"]}}}


def _infer(op_id: str, summary: str, request: str, params: list) -> dict[str, Any]:
    ok = {"description": "one output per output column (binary outputs follow the JSON header when asked for: "
                         "Inference-Header-Content-Length gives its length)", "headers": _REQUEST_ID,
          "content": {**_json(_ref("InferResponse")),
                      "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    op = _op(op_id, summary, ok, params=params, body=_json(_ref(request)), errors=_INFER_ERRORS, v2=True)
    op["description"] = ("The binary tensor data extension is also accepted: the JSON header, then each input's "
                         "bytes (parameters.binary_data_size instead of data), with Inference-Header-Content-Length "
                         "giving the header's length (see docs/api.md).")
    return {"post": op}


def openapi_document(models: Mapping[str, Mapping[str, LoadedModel]] | None = None, max_records: int = 10_000,
                     admin: bool = False, latest: Mapping[str, str] | None = None,
                     entities: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The API description for ``models`` (name -> version -> loaded model; ``latest``: name -> its
    latest version), a server limit of ``max_records`` per request, and admin endpoints on or off;
    ``entities``: model name -> the key field its records may be sent by (``--feature-store``)."""
    models = models or {}
    entities = entities or {}
    latest = dict(latest or {n: list(vs)[-1] for n, vs in models.items()})
    served = sorted(models)
    unserved = {"type": "string", "minLength": 1, **({"not": {"enum": served}} if served else {})}
    name, unknown_name = _param("name", "model name"), _param("name", "a model this server does not serve (the "
                                                              "served ones have paths of their own)", unserved)
    version = _param("version", "model version (natural order; `latest` for the newest)")
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("healthz", "Liveness: the worker answers", _ok(_ref("Health")))},
        "/readyz": {"get": _op("readyz", "Readiness: every model in the repository has a version serving",
                               _ok(_ref("Readiness")), extra={"503": {
                                   "description": "not ready (no model, or a model with no loadable version)",
                                   "content": _json(_ref("Readiness"))}})},
        "/metrics": {"get": _op("metrics", "Prometheus metrics (all workers)", {
            "description": "text exposition format", "content": {"text/plain": {"schema": STR}}})},
        "/openapi.json": {"get": _op("openapi", "This document", _ok(OBJ))},
        "/v1/models": {"get": _op("list_models", "Models with their versions and latest version",
                                  _ok(_ref("ModelList")))},
        "/v1/models/{name}": {"get": _op("describe_model", "A model and its latest version's metadata",
                                         _ok(_ref("ModelDetail")), params=[name], errors={404: "no such model"})},
        "/v1/models/{name}/versions/{version}": {"get": _op(
            "describe_version", "A version's input schema, outputs, classes and fidelity", _ok(_ref("ModelVersion")),
            params=[name, version], errors={404: "no such model or version"})},
        "/v1/models/{name}/predict": _predict("predict", "Score records with the latest version of a model",
                                              "PredictRequest", "PredictResponse", [unknown_name]),
        "/v1/models/{name}/versions/{version}/predict": _predict(
            "predict_version", "Score records with a pinned version", "PredictRequest", "PredictResponse",
            [unknown_name, version]),
        "/v2": {"get": _op("v2_server_metadata", "Open Inference Protocol: server metadata",
                           _ok(_ref("ServerMetadata")), v2=True)},
        "/v2/": {"get": _op("v2_server_metadata_slash", "Open Inference Protocol: server metadata",
                            _ok(_ref("ServerMetadata")), v2=True)},
        "/v2/health/live": {"get": _op("v2_live", "Open Inference Protocol: liveness", _ok(
            {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}), v2=True)},
        "/v2/health/ready": {"get": _op("v2_ready", "Open Inference Protocol: readiness", _ok(
            {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}), v2=True,
            extra={"503": {"description": "not ready", "content": _json(
                {"type": "object", "required": ["ready"], "properties": {"ready": {"const": False}}})}})},
        "/v2/models/{name}": {"get": _op("v2_model_metadata", "Open Inference Protocol: model metadata",
                                         _ok(_ref("ModelMetadata")), params=[name], errors={404: "no such model"},
                                         v2=True)},
        "/v2/models/{name}/versions/{version}": {"get": _op(
            "v2_version_metadata", "Open Inference Protocol: version metadata", _ok(_ref("ModelMetadata")),
            params=[name, version], errors={404: "no such model or version"}, v2=True)},
        "/v2/models/{name}/ready": {"get": _op("v2_model_ready", "Open Inference Protocol: model readiness", _ok(
            {"type": "object", "required": ["name", "ready"],
             "properties": {"name": STR, "ready": {"type": "boolean"}}}),
            params=[name], errors={404: "no such model"}, v2=True)},
        "/v2/models/{name}/versions/{version}/ready": {"get": _op(
            "v2_version_ready", "Open Inference Protocol: version readiness", _ok(
                {"type": "object", "required": ["name", "ready"],
                 "properties": {"name": STR, "ready": {"type": "boolean"}}}),
            params=[name, version], errors={404: "no such model or version"}, v2=True)},
        "/v2/models/{name}/infer": _infer("infer", "Open Inference Protocol inference with the latest version",
                                          "InferRequest", [unknown_name]),
        "/v2/models/{name}/versions/{version}/infer": _infer(
            "infer_version", "Open Inference Protocol inference with a pinned version", "InferRequest",
            [unknown_name, version]),
    }
    schemas = _common_schemas(max_records)
    schemas["InferRequest"] = {"type": "object", "required": ["inputs"], "properties": {
        "id": STR, "inputs": {"type": "array", "items": OBJ}, "outputs": {"type": "array", "items": OBJ}}}
    for model_name in served:
        versions = models[model_name]
        for v, model in [(None, versions[latest[model_name]]), *[(v, m) for v, m in versions.items()]]:
            key = _key(model_name, v)
            schemas.update(_model_schemas(model, key, max_records, entities.get(model_name)))
            ident = key.replace(".", "_").replace("-", "_")
            if v is None:
                paths[f"/v1/models/{model_name}/predict"] = _predict(
                    f"predict_{ident}", f"Score records with {model_name} (latest version, {model.version} now)",
                    f"PredictRequest_{key}", f"PredictResponse_{key}", [], _csv_body(model, max_records))
                paths[f"/v2/models/{model_name}/infer"] = _infer(
                    f"infer_{ident}", f"Inference with {model_name} (latest version, {model.version} now)",
                    f"InferRequest_{key}", [])
                continue
            for alias in ([v, "latest"] if v == latest[model_name] else [v]):
                suffix = "latest" if alias == "latest" else ident
                paths[f"/v1/models/{model_name}/versions/{alias}/predict"] = _predict(
                    f"predict_{suffix}" if alias != "latest" else f"predict_{_key(model_name)}_latest",
                    f"Score records with {model_name} version {alias}", f"PredictRequest_{key}",
                    f"PredictResponse_{key}", [], _csv_body(model, max_records))
                paths[f"/v2/models/{model_name}/versions/{alias}/infer"] = _infer(
                    f"infer_{suffix}" if alias != "latest" else f"infer_{_key(model_name)}_latest",
                    f"Inference with {model_name} version {alias}", f"InferRequest_{key}", [])
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "scorebridge scoring service", "version": scorebridge.__version__,
                 "description": "Scores exported model bundles. A v1 error answers "
                                '{"error": {"code", "message", "field", "record"}}; an Open Inference Protocol '
                                'error (paths under /v2) {"error": "<message>", "code", "field", "record"}.'},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if admin:
        doc["components"]["securitySchemes"] = {"adminToken": {"type": "http", "scheme": "bearer"}}
        paths["/v1/admin/reload"] = {"post": {
            **_op("admin_reload", "Rescan the repository in every worker (SCOREBRIDGE_ADMIN_TOKEN)",
                  _ok(_ref("ReloadReport"), "what was loaded, kept, removed and refused"),
                  errors={401: "no bearer token", 403: "a wrong token"}),
            "security": [{"adminToken": []}]}}
    return doc
