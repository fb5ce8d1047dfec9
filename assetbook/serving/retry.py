"""The API service's call to the model service, made reliable: scoring is idempotent, so a
transient failure is retried, backing off, each call bounded, until shortly before the
request's own timeout. The user gets an answer, or a 503 that says the model is overloaded,
never BentoML's 504 after half a minute."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from bentoml.exceptions import InternalServerError, ServiceUnavailable

T = TypeVar("T")

TIMEOUT_S = 30  # BentoML answers 504 to a request its service has not answered by then
ATTEMPT_S = 5  # one model call: milliseconds when healthy, so a longer one is stuck
# Transient failures of the model service seen under load on a busy machine: refused as
# overloaded (503), a keep-alive connection closed under a request, a call never answered.
TRANSIENT = (TimeoutError, aiohttp.ClientError, ServiceUnavailable, InternalServerError)
# ... and a connection closed while the answer is read, which aiohttp raises as a bare
# RuntimeError (3 requests in 45,000 of a 5-minute soak, bench/bench_soak.py).
CLOSED_WHILE_READING = "Connection closed."


def transient(error: Exception) -> bool:
    return isinstance(error, TRANSIENT) or (
        isinstance(error, RuntimeError) and str(error) == CLOSED_WHILE_READING)


async def call_with_retry(call: Callable[[], Awaitable[T]], timeout_s: float = TIMEOUT_S,
                          attempt_s: float = ATTEMPT_S) -> T:
    """`call()` until it answers; a 503 once another attempt would end too close to
    `timeout_s` (two attempts before it) to be answered in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s - 2 * attempt_s
    pause = 0.1
    while True:
        try:
            return await asyncio.wait_for(call(), attempt_s)
        except Exception as error:
            if not transient(error):
                raise
            if loop.time() + pause + attempt_s > deadline:
                raise ServiceUnavailable(
                    f"the model service did not answer in time ({error!r}); retry") from error
            await asyncio.sleep(pause)
            pause = min(2 * pause, 1.0)
