"""JSON bodies only: a bad request is always a 4xx with its reason."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class JsonBodies:
    """BentoML parses form and multipart bodies itself and answers a malformed one with a
    500; this API takes JSON, so any other declared media type is refused before parsing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers", ())).get(b"content-type", b"application/json")
        media_type = declared.split(b";")[0].strip().lower()
        if scope["type"] == "http" and scope["method"] == "POST" and (
                media_type != b"application/json"):
            reason = (f"unsupported content type '{declared.decode('latin-1')}': send the "
                      "request as application/json")
            await JSONResponse({"error": reason}, status_code=415)(scope, receive, send)
            return
        await self.app(scope, receive, send)
