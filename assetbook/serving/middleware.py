"""JSON bodies only: a bad request is always a 4xx with its reason; and each refused request
is recorded, for the live error rate."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assetbook.serving.recording import record_refusal, sampled


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


class RecordRefusals:
    """Records each request to `endpoints` answered with a 4xx (BentoML refuses a body that
    fails validation before the API's code runs), at the recording rate."""

    def __init__(self, app: ASGIApp, endpoints: tuple[str, ...], rate: float,
                 version: Callable[[], str]) -> None:
        self.app, self.endpoints, self.rate, self.version = app, endpoints, rate, version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.endpoints:
            await self.app(scope, receive, send)
            return
        status, body = 0, bytearray()

        async def watched(message: Message) -> None:
            nonlocal status
            await send(message)  # the client's answer first: recording never holds it back
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and 400 <= status < 500:
                body.extend(message.get("body", b""))
                if not message.get("more_body") and sampled(self.rate):
                    record_refusal(scope["path"], status, body.decode("utf-8", "replace"),
                                   self.version())

        await self.app(scope, receive, watched)
