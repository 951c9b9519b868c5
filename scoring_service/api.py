"""The prediction APIs: scorebridge v1 (JSON and CSV) and the Open Inference Protocol (KServe V2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

import scorebridge
from scoring_service.codec import JSON_TYPES, complete_body, dumps, json_response, parse_json, records_of, v1_columns
from scoring_service.content_coding import decode_body
from scoring_service.csv_codec import CSV_TYPES, parse_keep, read_csv, write_csv
from scoring_service.errors import ApiError
from scoring_service.features import audit_summary
from scoring_service.oip import (
    EXTENSIONS,
    HEADER_LENGTH,
    encode_answer,
    parse_request,
    v2_columns,
    v2_datatype,
)

if TYPE_CHECKING:
    from scoring_service.app import Call, Service
    from scoring_service.features import FeatureBinding, FeatureBindings
    from scoring_service.registry import LoadedModel, Snapshot


def _unsupported(mimetype: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(415, "unsupported_media_type",
                    f"Content-Type {mimetype or '(none)'!r} is not accepted here; send {' or '.join(accepted)}")


def request_body(limit: int) -> bytes:
    """The request's body, whole (a 400 if it is shorter than its ``Content-Length``), its
    ``Content-Encoding`` undone (at most ``limit`` bytes once decompressed)."""
    body = complete_body(request.get_data(cache=False), request.content_length)
    return decode_body(body, request.headers.get("Content-Encoding"), limit)


def v1_json_answer(call: Call, model: LoadedModel, body: bytes, limit: int,
                   bindings: FeatureBindings | None = None) -> bytes:
    """Score a v1 JSON body with ``model``: the answer's bytes (raises what the error handlers map).

    With ``bindings`` (``--feature-store``), a body that may carry the model's entity key goes to
    :func:`keyed_v1_answer`; every other body takes the fast path as without a store."""
    if bindings is not None:
        binding = bindings.get(model.name)
        if binding.entity_in(body):
            answer = keyed_v1_answer(call, model, binding, body, limit)
            if answer is not None:
                return answer
    prediction = call.score(model, v1_columns(model.records_decoder, body, limit))
    return dumps({"model": model.name, "version": model.version, "engine": model.engine_name,
                  "request_id": call.request_id, "predictions": model.predictions_encoder(prediction)})


def keyed_v1_answer(call: Call, model: LoadedModel, binding: FeatureBinding, body: bytes, limit: int) -> bytes | None:
    """The answer to a v1 JSON body whose records carry the entity key (absent inputs filled from the
    store, each keyed prediction annotated with ``features``); ``None`` when no record carries it."""
    records = records_of(parse_json(body), limit)
    entity = binding.entity
    if not isinstance(records, list):
        return None
    keyed = [i for i, rec in enumerate(records) if isinstance(rec, dict) and entity in rec]
    if not keyed:
        return None
    keys = binding.keys_of([records[i][entity] for i in keyed], keyed)
    columns, notes = binding.fill(model.schema, records, keyed, keys)
    prediction = call.score(model, columns)
    call.features = audit_summary(binding.feature_set, notes)
    predictions = prediction.to_records()
    for rec, note in zip(predictions, notes, strict=True):
        if note is not None:
            rec["features"] = note
    return dumps({"model": model.name, "version": model.version, "engine": model.engine_name,
                  "request_id": call.request_id, "predictions": predictions})


def v1_blueprint(service: Service) -> Blueprint:
    """``/v1/models``: list and describe models, predict from JSON records or CSV."""
    bp = Blueprint("v1", __name__, url_prefix="/v1")
    registry = service.registry
    limit, max_body = service.config.max_records, service.config.max_body_bytes
    bp.after_request(service.finish)

    def summary(snap: Snapshot, name: str) -> dict[str, Any]:
        versions, latest = snap.models[name], snap.latest[name]
        out = {"name": name, "versions": list(versions), "latest": latest, "task": versions[latest].bundle.task}
        not_loaded = snap.not_loaded.get(name)
        if not_loaded:  # only with --max-versions
            out["not_loaded"] = not_loaded
        return out

    @bp.get("/models")
    def list_models() -> Response:
        snap = registry.snapshot
        return json_response({"models": [summary(snap, n) for n in snap.models]})

    @bp.get("/models/<name>")
    def describe_model(name: str) -> Response:
        snap = registry.snapshot
        latest = snap.get(name)
        return json_response({**summary(snap, name), "latest_version": latest.describe()})

    @bp.get("/models/<name>/versions/<version>")
    def describe_version(name: str, version: str) -> Response:
        return json_response(registry.snapshot.get(name, version).describe())

    @bp.post("/models/<name>/predict")
    def predict_latest(name: str) -> Response:
        return predict(name, None)

    @bp.post("/models/<name>/versions/<version>/predict")
    def predict_version(name: str, version: str) -> Response:
        return predict(name, version)

    def predict(name: str, version: str | None) -> Response:
        mimetype = request.mimetype
        call = service.begin("csv" if mimetype in CSV_TYPES else "v1")
        model = call.model = registry.snapshot.get(name, version)
        if mimetype in JSON_TYPES:
            answer = v1_json_answer(call, model, request_body(max_body), limit, service.features)
            return Response(answer, mimetype="application/json")
        if mimetype in CSV_TYPES:
            keep = parse_keep(request.args.get("keep"))
            binding = service.features.get(model.name) if service.features is not None else None
            kept, columns, notes = read_csv(model.schema, request_body(max_body), keep, limit, binding)
            if notes is not None:
                call.features = audit_summary(binding.feature_set, notes)
            prediction = call.score(model, columns)
            return Response(write_csv(prediction, kept, notes), mimetype="text/csv")
        raise _unsupported(mimetype, JSON_TYPES + CSV_TYPES)

    return bp


def v2_blueprint(service: Service) -> Blueprint:
    """The Open Inference Protocol: health, model metadata and ``infer`` (one input per column)."""
    bp = Blueprint("v2", __name__, url_prefix="/v2")
    registry = service.registry
    limit, max_body = service.config.max_records, service.config.max_body_bytes
    bp.after_request(service.finish)

    @bp.get("")
    @bp.get("/")
    def server_metadata() -> Response:
        return json_response({"name": "scorebridge", "version": scorebridge.__version__, "extensions": EXTENSIONS})

    @bp.get("/health/live")
    def live() -> Response:
        return json_response({"live": True})

    @bp.get("/health/ready")
    def ready() -> Response:
        ok = registry.is_ready()
        return json_response({"ready": ok}, 200 if ok else 503)

    @bp.get("/models/<name>")
    @bp.get("/models/<name>/versions/<version>")
    def metadata(name: str, version: str | None = None) -> Response:
        snap = registry.snapshot
        model = snap.get(name, version)
        m = model.bundle.manifest
        return json_response({
            "name": name, "versions": list(snap.models[name]), "platform": f"scorebridge-{model.engine_name}",
            "inputs": [{"name": i["name"], "datatype": v2_datatype(i["dtype"]), "shape": [-1]} for i in m["inputs"]],
            "outputs": [{"name": o["name"], "datatype": v2_datatype(o["dtype"]),
                         "shape": [-1]} for o in m["outputs"]],
        })

    @bp.get("/models/<name>/ready")
    @bp.get("/models/<name>/versions/<version>/ready")
    def model_ready(name: str, version: str | None = None) -> Response:
        registry.snapshot.get(name, version)  # 404 when absent
        return json_response({"name": name, "ready": True})

    @bp.post("/models/<name>/infer")
    @bp.post("/models/<name>/versions/<version>/infer")
    def infer(name: str, version: str | None = None) -> Response:
        call = service.begin("v2")
        model = call.model = registry.snapshot.get(name, version)
        header_length = request.headers.get(HEADER_LENGTH)
        # Triton's client sends no Content-Type; KServe's sends octet-stream with binary tensors
        accepted = ("",) + JSON_TYPES + (("application/octet-stream",) if header_length is not None else ())
        if request.mimetype not in accepted:
            raise _unsupported(request.mimetype, JSON_TYPES + ("application/octet-stream (binary tensors)",))
        infer_request = parse_request(request_body(max_body), header_length)
        binding = service.features.get(model.name) if service.features is not None else None
        columns, notes = v2_columns(model.schema, infer_request, limit, binding)
        prediction = call.score(model, columns)
        head = {"model_name": model.name, "model_version": model.version, "id": infer_request.id or call.request_id,
                "parameters": {"engine": model.engine_name}}
        if notes is not None:
            call.features = audit_summary(binding.feature_set, notes)
            head["parameters"]["features"] = notes
        answer, json_length = encode_answer(infer_request, prediction, head)
        if json_length is None:
            return Response(answer, mimetype="application/json")
        response = Response(answer, mimetype="application/octet-stream")
        response.headers[HEADER_LENGTH] = str(json_length)
        return response

    return bp
