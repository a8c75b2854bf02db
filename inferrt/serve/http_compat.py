"""Triton HTTP-client compatibility for kserve's REST server.

Triton's binary tensor data extension says a request body without an ``Inference-Header-Content-Length`` header is
entirely JSON. ``tritonclient.http`` sends such JSON-only requests with no (or a non-JSON) Content-Type; kserve's v2
route then reads the body as binary and refuses it for lacking the header. This ASGI middleware marks those bodies
``application/json`` so kserve parses them as JSON; requests that carry the header pass unchanged.
"""
from __future__ import annotations

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


def install(app) -> None:
    """Add the middleware to kserve's FastAPI app (before the server starts)."""
    app.add_middleware(WholeJsonInferBody)
