"""Triton HTTP routes kserve lacks, added to its FastAPI app:

    GET /v2/models/<name>/config   the served config.pbtxt as JSON (inputs/outputs completed from the engine)
    GET /v2/models/<name>/stats    Triton's statistics extension (counts, durations in ns, per-batch-size stats)
    GET /v2/models/stats           every model's statistics
    POST /v2/repository/index      every model folder with its state (READY / UNAVAILABLE); {"ready": true}: the
                                   ready ones
"""
from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format


def add_triton_routes(app, registry, metrics) -> None:
    def _model(name):
        m = registry.get_model(name)
        return m if m is not None and m.ready else None

    async def model_config(model_name: str):
        m = _model(model_name)
        if m is None:
            return JSONResponse({"error": f"model {model_name!r} is not loaded"}, status_code=404)
        return json_format.MessageToDict(m.completed_config(), preserving_proto_field_name=True)

    async def model_stats(model_name: str):
        m = _model(model_name)
        if m is None:
            return JSONResponse({"error": f"model {model_name!r} is not loaded"}, status_code=404)
        return {"model_stats": [metrics.statistics(m.name, m.version_label)]}

    async def all_stats():
        return {"model_stats": [metrics.statistics(m.name, m.version_label)
                                for m in registry.get_models().values() if m.ready]}

    async def repository_index(request: Request):
        # Triton's body is optional: {} or {"ready": true} (only the ready models)
        body = await request.body()
        try:
            options = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return JSONResponse({"error": f"repository index: the body is not JSON ({e})"}, status_code=400)
        if not isinstance(options, dict) or set(options) - {"ready"} or not isinstance(options.get("ready", False),
                                                                                      bool):
            return JSONResponse({"error": 'repository index: the body takes only {"ready": true|false}'},
                                status_code=400)
        return await registry.index(ready_only=options.get("ready", False))

    app.add_api_route("/v2/models/stats", all_stats, methods=["GET"])
    app.add_api_route("/v2/models/{model_name}/config", model_config, methods=["GET"])
    app.add_api_route("/v2/models/{model_name}/stats", model_stats, methods=["GET"])
    app.add_api_route("/v2/repository/index", repository_index, methods=["POST"])
