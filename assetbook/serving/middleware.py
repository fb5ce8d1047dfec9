"""JSON bodies only: a bad request is always a 4xx with its reason, said for a person; and each
refused request is recorded, for the live error rate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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


class PlainRefusals:
    """BentoML refuses a body that fails validation with pydantic's errors as they are: "3
    validation error for request", each with a link to pydantic's pages and without the value
    sent. The 400 is said for a person here (`plain_refusal`), with the value each error is
    about, read from the request; its `detail` keeps each error's type, place and message. A
    422 (rows that cannot be scored) comes as a list of one error body: it is unwrapped."""

    def __init__(self, app: ASGIApp, wrappers: dict[str, str],
                 answered: tuple[str, ...] = ()) -> None:
        self.app, self.wrappers = app, wrappers  # endpoint -> the body's one field
        self.answered = answered  # fields the model answers (the target): not sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.wrappers:
            await self.app(scope, receive, send)
            return
        wrapper = self.wrappers[scope["path"]]
        start: Message | None = None
        body = bytearray()
        sent: list[bytes] = []  # the request's chunks, joined only for a refusal

        async def read() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sent.append(message.get("body", b""))
            return message

        async def rewritten(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] in (400, 422):
                start = message  # held until the body is whole
            elif start is None or message["type"] != "http.response.body":
                await send(message)
            else:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    content = _plain_json(bytes(body), wrapper, self.answered, b"".join(sent))
                    headers = [(k, v) for k, v in start.get("headers", ())
                               if k.lower() != b"content-length"]
                    await send({**start, "headers": [
                        *headers, (b"content-length", str(len(content)).encode())]})
                    await send({"type": "http.response.body", "body": content})

        await self.app(scope, read, rewritten)


SHOWN_PROBLEMS = 5
_NO_VALUE = ("missing", "extra_forbidden")  # a field absent, or one that is not the API's


def plain_refusal(body: dict[str, Any], wrapper: str, answered: tuple[str, ...] = (),
                  request: Any = None, empty: bool = False) -> dict[str, Any]:
    """BentoML's validation refusal as a person reads it: "2 problem(s) with the request:
    application.age: Field required; application.income: Input should be a valid number
    (sent "high")", and for a row sent without its wrapper field, how to send it; a field the
    model answers (`answered`: the target), sent, is said to be one. `request`: the parsed
    body that was refused, where the values sent are read; `empty`: nothing was sent, which
    is said as such. Any other body is returned as it is."""
    detail = body.get("detail")
    if not (isinstance(detail, list) and detail and all(isinstance(e, dict) for e in detail)):
        return body
    problems = [{k: v for k, v in error.items() if k != "url"} for error in detail]
    said = [f"{'.'.join(map(str, p.get('loc') or ())) or 'the body'}: {p.get('msg', '')}"
            + (" (the model's answer: leave it out)" if p.get("type") == "extra_forbidden"
               and (p.get("loc") or [None])[-1] in answered else "")
            + _sent(request, p) for p in problems]
    if len(said) > SHOWN_PROBLEMS:
        said = [*said[:SHOWN_PROBLEMS], f"and {len(said) - SHOWN_PROBLEMS} more (in detail)"]
    error = f"{len(problems)} problem(s) with the request: {'; '.join(said)}"
    if empty:
        return {**body, "error": f'the request has no body: send {{"{wrapper}": {{...}}}} as '
                'application/json', "detail": problems}
    unwrapped = any(p.get("type") == "missing" and p.get("loc") == [wrapper] for p in problems)
    if unwrapped and any(p.get("type") == "extra_forbidden" for p in problems):
        error += f'. Send the fields inside "{wrapper}": {{"{wrapper}": {{...}}}}'
    return {**body, "error": error, "detail": problems}


def _sent(request: Any, problem: dict[str, Any]) -> str:
    """' (sent 50.0)': the value of the request at the problem's place, when it is one value."""
    if problem.get("type") in _NO_VALUE or not problem.get("loc"):
        return ""
    value = request
    for step in problem["loc"]:
        if isinstance(value, dict) and step in value or (
                isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)):
            value = value[step]
        else:
            return ""  # a place of pydantic's own, e.g. the member of a union it tried
    return "" if isinstance(value, dict | list) else f" (sent {json.dumps(value)[:80]})"


def _plain_json(content: bytes, wrapper: str, answered: tuple[str, ...], sent: bytes) -> bytes:
    body = _parsed(content)
    if isinstance(body, list) and len(body) == 1:  # BentoML's 4xx of a raised error
        body = body[0]
    return json.dumps(plain_refusal(body, wrapper, answered, _parsed(sent),
                                    empty=not sent.strip())).encode() \
        if isinstance(body, dict) else content


def _parsed(content: bytes) -> Any:
    """The JSON of `content`, or None (a refused request may be anything)."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
