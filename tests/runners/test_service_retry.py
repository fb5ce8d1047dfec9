"""The API service's call to the model service: transient failures are retried, a stuck call
is abandoned and retried, and a model service that never answers gives a prompt 503.

The served path is tested through real servers in tests/e2e and tests/reliability; these
isolate the retry loop with a stand-in model service, because a stuck or failing call cannot
be produced on demand in a real one."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import aiohttp
import numpy as np
import pytest
from bentoml.exceptions import ServiceUnavailable

from tests.conftest import REPO


@pytest.fixture(scope="module")
def service() -> Iterator[ModuleType]:
    sys.path.insert(0, str(REPO / "bentos" / "loans"))
    try:
        import service as module
        yield module
    finally:
        sys.path.remove(str(REPO / "bentos" / "loans"))
        sys.modules.pop("service", None)


class ModelService:
    """Answers with the features' first column after the scripted failures: an exception to
    raise, or "stuck" for a call that does not return for BentoML's whole timeout."""

    def __init__(self, *failures: Any) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.to_async = SimpleNamespace(score=self.score)

    async def score(self, features: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "stuck":
                await asyncio.sleep(30)
                raise AssertionError("a stuck call was awaited to the end")
            raise failure
        return features[:, 0]


def classifier(service: ModuleType, model: ModelService) -> Any:
    instance = object.__new__(service.LoanClassifier.inner)
    instance.__dict__["model"] = model
    return instance


def test_transient_failures_and_a_stuck_call_are_retried(
        service: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "ATTEMPT_S", 0.5)
    model = ModelService(aiohttp.ServerDisconnectedError(),
                         service.ServiceUnavailable("overloaded"), "stuck",
                         RuntimeError("Connection closed."))  # aiohttp, while reading
    features = np.array([[0.25, 1.0], [0.75, 2.0]], dtype=np.float32)
    scores = asyncio.run(classifier(service, model)._score(features))
    assert scores.tolist() == [0.25, 0.75]
    assert model.calls == 5


def test_a_model_service_that_never_answers_gets_a_prompt_503(
        service: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "ATTEMPT_S", 0.2)
    monkeypatch.setattr(service, "TIMEOUT_S", 2.0)
    model = ModelService(*["stuck"] * 100)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="did not answer in time"):
        asyncio.run(classifier(service, model)._score(np.zeros((1, 2), dtype=np.float32)))
    assert time.monotonic() - started < service.TIMEOUT_S
    assert 2 <= model.calls < 100


def test_a_bad_answer_is_not_retried(service: ModuleType) -> None:
    model = ModelService(RuntimeError("a bug, not a transient failure"))
    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(classifier(service, model)._score(np.zeros((1, 2), dtype=np.float32)))
    assert model.calls == 1
