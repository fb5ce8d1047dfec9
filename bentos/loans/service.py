"""The served loans classifier: a typed API in front of a model service that batches.

`LoanClassifier` validates requests (the schema comes from the pandera schema of the data:
a bad field is a 400 naming it), computes the same features as training and scales them
with the preprocessing saved beside the weights. `LoanModel` holds the network; concurrent
requests are merged into one forward pass by BentoML's adaptive batching. Every answer names
the model version that gave it. Bodies are JSON only (anything else is a 415), and unknown
fields are refused at every level, so a bad request is always a 4xx with its reason.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import aiohttp
import bentoml
import numpy as np
import pandas as pd
import torch
from bentoml.exceptions import InternalServerError, ServiceUnavailable
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from project.features import make_features
from assetbook.runners.serving.schema import request_model
from assetbook.serving.model_file import ModelFile
from project.schemas import LoanApplications

# Assetbook's packager writes the exact model tag beside this file in the bento it builds.
PINNED = Path(__file__).with_name("model_tag.txt")
MODEL = bentoml.models.BentoModel(
    PINNED.read_text().strip() if PINNED.exists() else "loans_classifier:latest")
MAX_BATCH = 1000
TIMEOUT_S = 30  # BentoML answers 504 to a request its service has not answered by then
ATTEMPT_S = 5  # one model call: milliseconds when healthy, so a longer one is stuck
# Transient failures of the model service seen under load on a busy machine: refused as
# overloaded (503), a keep-alive connection closed under a request, a call never answered.
TRANSIENT = (TimeoutError, aiohttp.ClientError, ServiceUnavailable, InternalServerError)
# ... and a connection closed while the answer is read, which aiohttp raises as a bare
# RuntimeError (3 requests in 45,000 of a 5-minute soak, bench/bench_soak.py).
CLOSED_WHILE_READING = "Connection closed."

LoanApplication = request_model(LoanApplications.to_schema(), "LoanApplication", {"label"})


class Request(BaseModel):
    """A request body: an unknown top-level field is refused, like an unknown column."""

    model_config = ConfigDict(extra="forbid", title="request")


class PredictRequest(Request):
    application: LoanApplication


class BatchRequest(Request):
    applications: Annotated[list[LoanApplication], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    probability: float = Field(description="Probability of label 1 (the paper's Group B).")
    label: int
    model_version: str


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": TIMEOUT_S})
class LoanModel:
    model_ref = MODEL

    def __init__(self) -> None:
        torch.set_num_threads(1)
        _, self.module = ModelFile.load(self.model_ref.path_of("model.pt"))

    # A request that cannot be answered within max_latency_ms is refused as overloaded (503);
    # the API service retries those, so load slows answers down instead of failing them.
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH, max_latency_ms=1000)
    def score(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.sigmoid(self.module(torch.from_numpy(features))).numpy()


@bentoml.service(traffic={"timeout": TIMEOUT_S})
class LoanClassifier:
    model_ref = MODEL
    model = bentoml.depends(LoanModel)

    def __init__(self) -> None:
        info, _ = ModelFile.load(self.model_ref.path_of("model.pt"))
        self.preprocessing = info.preprocessing
        self.version = self.model_ref.info.labels.get("model_version", str(self.model_ref.tag))

    async def _predict(self, rows: list[BaseModel]) -> list[Prediction]:
        frame = make_features(pd.DataFrame([row.model_dump() for row in rows]))
        features = self.preprocessing.transform(frame)
        probabilities = await self._score(features)
        return [Prediction(probability=float(p), label=int(p >= 0.5),
                           model_version=self.version) for p in probabilities]

    async def _score(self, features: np.ndarray) -> np.ndarray:
        """Scoring is idempotent, so a transient failure of the model service is retried,
        backing off, each call bounded by ATTEMPT_S, until shortly before this request's own
        timeout: the user gets an answer, or a 503 that says the model is overloaded, never
        BentoML's 504 after half a minute."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S - 2 * ATTEMPT_S
        pause = 0.1
        while True:
            try:
                return await asyncio.wait_for(self.model.to_async.score(features), ATTEMPT_S)
            except Exception as error:
                if not _transient(error):
                    raise
                if loop.time() + pause + ATTEMPT_S > deadline:
                    raise ServiceUnavailable(
                        f"the model service did not answer in time ({error!r}); retry") from error
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)

    @bentoml.api(input_spec=PredictRequest)
    async def predict(self, application: LoanApplication) -> Prediction:
        return (await self._predict([application]))[0]

    @bentoml.api(input_spec=BatchRequest)
    async def predict_batch(self, applications: list[LoanApplication]) -> list[Prediction]:
        return await self._predict(applications)


def _transient(error: Exception) -> bool:
    return isinstance(error, TRANSIENT) or (
        isinstance(error, RuntimeError) and str(error) == CLOSED_WHILE_READING)


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


LoanClassifier.add_asgi_middleware(JsonBodies)
