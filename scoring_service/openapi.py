"""The OpenAPI 3.1 document served at ``GET /openapi.json`` (prose reference: ``docs/api.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import scorebridge

if TYPE_CHECKING:
    from scorebridge.schema import Field
    from scoring_service.registry import LoadedModel


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_ERRORS = {str(code): {"$ref": "#/components/responses/Error"} for code in (400, 404, 413, 415, 500)}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "model name"}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "model version (natural order; `latest` for the newest)"}


def _predict_op(pinned: bool) -> dict[str, Any]:
    return {"post": {
        "summary": "Score records with " + ("a pinned version" if pinned else "the latest version"),
        "parameters": [_NAME, _VERSION] if pinned else [_NAME] + [{
            "name": "keep", "in": "query", "required": False, "schema": {"type": "string"},
            "description": "CSV only: comma-separated input columns carried in front of the outputs"}],
        "requestBody": {"required": True, "content": {
            **_json_body(_ref("PredictRequest")),
            "text/csv": {"schema": {"type": "string"}, "description": "header row with the input fields, then records"},
        }},
        "responses": {"200": {"description": "predictions in input order", "content": {
            **_json_body(_ref("PredictResponse")),
            "text/csv": {"schema": {"type": "string"},
                         "description": "?keep columns, then label, probability_<class>... or prediction"},
        }}, **_ERRORS},
    }}


def _infer_op() -> dict[str, Any]:
    return {"post": {
        "summary": "Open Inference Protocol (KServe V2) inference: one named input per model field",
        "parameters": [_NAME],
        "requestBody": {"required": True, "content": _json_body(_ref("InferRequest"))},
        "responses": {"200": {"description": "one output per output column",
                              "content": _json_body(_ref("InferResponse"))}, **_ERRORS},
    }}


def _get(summary: str, schema: dict[str, Any] | None = None, params: list | None = None,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if schema is not None:
        ok["content"] = _json_body(schema)
    return {"get": {"summary": summary, "parameters": params or [], "responses": {"200": ok, **(extra or {})}}}


def _field_schema(field: Field) -> dict[str, Any]:
    """JSON Schema of one input field as ``InputSchema.from_records`` accepts it."""
    types = {"float64": ["number"], "int64": ["number"], "bool": ["boolean", "number"], "string": ["string"]}
    out: dict[str, Any] = {"type": types[field.dtype] + (["null"] if field.nullable else [])}
    notes = [f"{field.dtype}, {field.optype}"]
    if field.nullable:
        notes.append("null or NaN: missing, scored as the model scores missing values")
    if field.categories is not None:
        out["examples"] = list(field.categories)
        notes.append("categories seen in training: " + ", ".join(map(str, field.categories))
                     + "; other values are scored as unseen and counted")
    out["description"] = "; ".join(notes)
    return out


def model_schemas(model: LoadedModel, max_records: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the concrete predict path item, its component schemas) for one served model's latest version."""
    key = model.name
    record = {"type": "object", "required": model.schema.names,
              "properties": {f.name: _field_schema(f) for f in model.schema.fields},
              "description": f"one record for {model.name} (every input field; other keys are ignored)"}
    if model.bundle.is_classifier:
        classes = [str(c) for c in model.bundle.classes]
        prediction = {"type": "object", "required": ["label", "probabilities"], "properties": {
            "label": {"enum": list(model.bundle.classes)},
            "probabilities": {"type": "object", "required": classes,
                              "properties": {c: {"type": "number"} for c in classes}}}}
    else:
        prediction = {"type": "object", "required": ["prediction"], "properties": {"prediction": {"type": "number"}}}
    schemas = {
        f"Record_{key}": record,
        f"PredictRequest_{key}": {"type": "object", "required": ["records"], "properties": {
            "records": {"type": "array", "minItems": 1, "maxItems": max_records, "items": _ref(f"Record_{key}")}}},
        f"Prediction_{key}": prediction,
        f"PredictResponse_{key}": {**_ref("PredictResponse"), "properties": {
            "predictions": {"type": "array", "items": _ref(f"Prediction_{key}")}}},
    }
    op = _predict_op(False)["post"]
    csv_in = op["requestBody"]["content"]["text/csv"]
    ok = op["responses"]["200"]
    path = {"post": {**op, "summary": f"Score records with {model.name} (latest version, {model.version} now)",
                     "parameters": op["parameters"][1:],  # the name is in the path
                     "requestBody": {"required": True, "content": {
                         **_json_body(_ref(f"PredictRequest_{key}")), "text/csv": csv_in}},
                     "responses": {**op["responses"], "200": {**ok, "content": {
                         **ok["content"], **_json_body(_ref(f"PredictResponse_{key}"))}}}}}
    return path, schemas


def openapi_document(models: Mapping[str, LoadedModel] | None = None, max_records: int | None = None) -> dict[str, Any]:
    """The API description; with ``models`` (name -> latest loaded version) it also holds, for each model,
    ``/v1/models/<name>/predict`` with a typed request and response (concrete paths match before the
    templated one)."""
    obj = {"type": "object"}
    tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "enum": ["BOOL", "INT64", "INT32", "FP32", "FP64", "BYTES"]},
        "data": {"type": "array"}}}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "scorebridge scoring service", "version": scorebridge.__version__,
                 "description": "Scores exported model bundles. Every error answers "
                                '{"error": {"code", "message", "field", "record"}}.'},
        "paths": {
            "/healthz": _get("Liveness: the worker answers", obj),
            "/readyz": _get("Readiness: every model in the repository has a version serving", obj, extra={
                "503": {"description": "not ready (no model, or a model with no loadable version)"}}),
            "/metrics": {"get": {"summary": "Prometheus metrics (all workers)", "responses": {"200": {
                "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": _get("This document", obj),
            "/v1/models": _get("Models with their versions and latest version", _ref("ModelList")),
            "/v1/models/{name}": _get("A model and its latest version's metadata", obj, [_NAME],
                                      {"404": {"$ref": "#/components/responses/Error"}}),
            "/v1/models/{name}/versions/{version}": _get(
                "A version's input schema, outputs, classes and fidelity", _ref("ModelVersion"), [_NAME, _VERSION],
                {"404": {"$ref": "#/components/responses/Error"}}),
            "/v1/models/{name}/predict": _predict_op(False),
            "/v1/models/{name}/versions/{version}/predict": _predict_op(True),
            "/v1/admin/reload": {"post": {
                "summary": "Rescan the repository in every worker (needs SCOREBRIDGE_ADMIN_TOKEN)",
                "security": [{"adminToken": []}],
                "responses": {"200": {"description": "what was loaded, kept, removed and refused",
                                      "content": _json_body(obj)},
                              **{str(c): {"$ref": "#/components/responses/Error"} for c in (401, 403, 404)}}}},
            "/v2": _get("Open Inference Protocol: server metadata", obj),
            "/v2/health/live": _get("Open Inference Protocol: liveness", obj),
            "/v2/health/ready": _get("Open Inference Protocol: readiness", obj),
            "/v2/models/{name}": _get("Open Inference Protocol: model metadata", obj, [_NAME]),
            "/v2/models/{name}/versions/{version}": _get("Open Inference Protocol: version metadata", obj,
                                                         [_NAME, _VERSION]),
            "/v2/models/{name}/ready": _get("Open Inference Protocol: model readiness", obj, [_NAME]),
            "/v2/models/{name}/infer": _infer_op(),
            "/v2/models/{name}/versions/{version}/infer": {"post": {**_infer_op()["post"],
                                                                    "parameters": [_NAME, _VERSION]}},
        },
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "an error", "content": _json_body(_ref("Error"))}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "field", "record"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "field": {"type": ["string", "null"]}, "record": {"type": ["integer", "null"]}}}}},
                "PredictRequest": {"type": "object", "required": ["records"], "properties": {
                    "records": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "description": "every input field; null (or NaN) is a missing value"}}}},
                "Prediction": {"oneOf": [
                    {"type": "object", "required": ["label", "probabilities"], "properties": {
                        "label": {}, "probabilities": {"type": "object", "additionalProperties": {"type": "number"}}}},
                    {"type": "object", "required": ["prediction"], "properties": {"prediction": {"type": "number"}}}]},
                "PredictResponse": {"type": "object", "required": ["model", "version", "engine", "request_id",
                                                                   "predictions"], "properties": {
                    "model": {"type": "string"}, "version": {"type": "string"}, "engine": {"type": "string"},
                    "request_id": {"type": "string"}, "predictions": {"type": "array", "items": _ref("Prediction")}}},
                "ModelList": {"type": "object", "properties": {"models": {"type": "array", "items": {
                    "type": "object", "properties": {"name": {"type": "string"}, "latest": {"type": "string"},
                                                     "task": {"type": "string"},
                                                     "versions": {"type": "array", "items": {"type": "string"}}}}}}},
                "ModelVersion": {"type": "object", "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"}, "task": {"type": "string"},
                    "classes": {"type": "array"}, "inputs": {"type": "array", "items": obj},
                    "outputs": {"type": "array", "items": obj}, "tolerance": obj, "fidelity": obj,
                    "engine": {"type": "string"}, "batch_engine": {"type": "string"},
                    "artifacts": {"type": "array", "items": {"type": "string"}},
                    "excluded": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
                    "id": {"type": "string"}, "inputs": {"type": "array", "items": tensor},
                    "outputs": {"type": "array", "items": {"type": "object",
                                                           "properties": {"name": {"type": "string"}}}}}},
                "InferResponse": {"type": "object", "properties": {
                    "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
                    "outputs": {"type": "array", "items": tensor}}},
            },
        },
    }
    if max_records is not None:
        doc["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] = max_records
    for name, model in sorted((models or {}).items()):
        path, schemas = model_schemas(model, max_records or 10_000)
        doc["paths"][f"/v1/models/{name}/predict"] = path
        doc["components"]["schemas"].update(schemas)
    return doc
