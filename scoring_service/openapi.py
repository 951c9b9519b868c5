"""The OpenAPI 3.1 document served at ``GET /openapi.json`` (prose reference: ``docs/api.md``)."""

from __future__ import annotations

from typing import Any

import scorebridge


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


def openapi_document() -> dict[str, Any]:
    """The API description (static: per-model input schemas are at ``GET /v1/models/{name}``)."""
    obj = {"type": "object"}
    tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "enum": ["BOOL", "INT64", "INT32", "FP32", "FP64", "BYTES"]},
        "data": {"type": "array"}}}
    return {
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
                    "outputs": {"type": "array", "items": obj}, "tolerance": obj, "fidelity": obj}},
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
