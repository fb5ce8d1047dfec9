"""The API service's call to the model service: transient failures are retried, a stuck call
is abandoned and retried, and a model service that never answers gives a prompt 503.

The served path is tested through real servers in tests/e2e, tests/reliability and
tests/serving; these isolate the retry loop with a stand-in model service, because a stuck or
failing call cannot be produced on demand in a real one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import numpy as np
import pytest
from bentoml.exceptions import ServiceUnavailable

from assetbook.serving.retry import call_with_retry


class ModelService:
    """Answers with the features' first column after the scripted failures: an exception to
    raise, or "stuck" for a call that does not return for BentoML's whole timeout."""

    def __init__(self, *failures: Any) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def score(self, features: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "stuck":
                await asyncio.sleep(30)
                raise AssertionError("a stuck call was awaited to the end")
            raise failure
        return features[:, 0]


def score(model: ModelService, features: np.ndarray, timeout_s: float = 30,
          attempt_s: float = 0.5) -> np.ndarray:
    return asyncio.run(call_with_retry(lambda: model.score(features), timeout_s, attempt_s))


def test_transient_failures_and_a_stuck_call_are_retried() -> None:
    model = ModelService(aiohttp.ServerDisconnectedError(), ServiceUnavailable("overloaded"),
                         "stuck", RuntimeError("Connection closed."))  # aiohttp, while reading
    features = np.array([[0.25, 1.0], [0.75, 2.0]], dtype=np.float32)
    assert score(model, features).tolist() == [0.25, 0.75]
    assert model.calls == 5


def test_a_model_service_that_never_answers_gets_a_prompt_503() -> None:
    model = ModelService(*["stuck"] * 100)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="did not answer in time"):
        score(model, np.zeros((1, 2), dtype=np.float32), timeout_s=6.0, attempt_s=1.0)
    # It gives up two attempts before the request's own timeout (here ~3.3 s of 6): the
    # margin holds on a loaded machine, and BentoML's 504 never comes first.
    assert time.monotonic() - started < 6.0
    assert 2 <= model.calls < 100


def test_a_bad_answer_is_not_retried() -> None:
    model = ModelService(RuntimeError("a bug, not a transient failure"))
    with pytest.raises(RuntimeError, match="a bug"):
        score(model, np.zeros((1, 2), dtype=np.float32))
    assert model.calls == 1
