"""Triton HTTP-client compatibility for kserve's REST server.

Whole-JSON infer bodies. Triton's binary tensor data extension says a request body without an ``Inference-Header-Content-Length`` header is
entirely JSON. ``tritonclient.http`` sends such JSON-only requests with no (or a non-JSON) Content-Type; kserve's v2
route then reads the body as binary and refuses it for lacking the header. This ASGI middleware marks those bodies
``application/json`` so kserve parses them as JSON; requests that carry the header pass unchanged.

Repository load/unload parameters. Triton's ``POST /v2/repository/models/<m>/load`` body may carry parameters (a
``config`` override, ``file:...`` model files) and unload's ``unload_dependents``; kserve's routes ignore the body.
inferrt loads models from their repository folder only, so a load with parameters is refused (400) rather than
loaded without them; ``unload_dependents`` concerns ensembles, which inferrt serve does not have, so it is accepted.
"""
from __future__ import annotations

import json
import re

_HEADER = b"inference-header-content-length"


class WholeJsonInferBody:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").endswith("/infer"):
            headers = scope.get("headers") or []
            if not any(k.lower() == _HEADER for k, _ in headers):
                scope = dict(scope, headers=[(k, v) for k, v in headers if k.lower() != b"content-type"]
                             + [(b"content-type", b"application/json")])
        await self.app(scope, receive, send)


_LOAD = re.compile(r"^/v2/repository/models/[^/]+/(load|unload)$")
_ACCEPTED = {"load": (), "unload": ("unload_dependents",)}


class RepositoryParameters:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        m = _LOAD.match(scope.get("path", "")) if scope["type"] == "http" and scope.get("method") == "POST" else None
        if m is None:
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)   # the client went away: nothing to check
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        why = _parameters_problem(body, m.group(1))
        if why:
            payload = json.dumps({"error": why}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _parameters_problem(body: bytes, verb: str) -> str | None:
    if not body.strip():
        return None
    try:
        request = json.loads(body)
    except ValueError as e:
        return f"repository {verb}: the body is not JSON ({e})"
    if not isinstance(request, dict) or set(request) - {"parameters"} or not isinstance(
            request.get("parameters", {}), dict):
        return f'repository {verb}: the body takes only {{"parameters": {{...}}}}'
    other = sorted(set(request.get("parameters", {})) - set(_ACCEPTED[verb]))
    if other:
        return (f"repository {verb}: parameters {other} are not supported (inferrt serve loads a model from its "
                f"repository folder only: no config override or model files); change the files in the repository "
                f"and load it again")
    return None


def install(app) -> None:
    """Add the middlewares to kserve's FastAPI app (before the server starts)."""
    app.add_middleware(WholeJsonInferBody)
    app.add_middleware(RepositoryParameters)
