"""The BentoML services of every bento Assetbook builds, made from its `serving.json`: a typed
API in front of a model service that batches.

`Api` validates requests (the request model comes from the pandera schema of the data: a bad
field is a 400 naming it), applies the transform the spec names and scales the features with
the preprocessing saved beside the weights, and records each answered row (its fields, the
answer, the model version, the latency) through BentoML's monitoring API (recording.py), at
the spec's `log_predictions` rate, and each refused request (its status and reason).
`Model` holds the network; concurrent requests
are merged into one forward pass by BentoML's adaptive batching, on float32 arrays. Every
answer names the model version that gave it. Bodies are JSON only (anything else is a 415),
and unknown fields are refused at every level, so a bad request is always a 4xx with its
reason.
"""

# No `from __future__ import annotations`: BentoML reads the API methods' annotations, which
# name classes made in `build_services`, as objects.

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bentoml
import numpy as np
from bentoml.exceptions import UnprocessableEntity
from pydantic import BaseModel

from assetbook.serving.answers import answer_model, answers
from assetbook.serving.config import MODEL_CONFIG, MODEL_FILE, ServiceConfig
from assetbook.serving.middleware import JsonBodies, PlainRefusals, RecordRefusals
from assetbook.serving.model_file import ModelFile, Predictor
from assetbook.serving.quiet_refusals import quiet_refusals
from assetbook.serving.recording import record_rows, sampled
from assetbook.serving.references import bound_transform
from assetbook.serving.request import (
    body_models,
    empty_numbers,
    load_schema,
    request_model,
    rows_frame,
)
from assetbook.serving.retry import TIMEOUT_S, call_with_retry

MAX_BATCH = 1000


def build_services(config_path: Path) -> tuple[bentoml.Service, bentoml.Service]:
    """The API service and the model service it depends on, as `serving.json` describes."""
    quiet_refusals()
    config = ServiceConfig.load(config_path)
    settings = config.settings
    schema = load_schema(settings.schema)
    record = request_model(schema, settings.record.title(), set(settings.exclude))
    numbers = empty_numbers(schema)
    single, batch = body_models(record, settings.record, settings.batch, MAX_BATCH)
    answer_type = answer_model(config.task, config.classes)
    transform = bound_transform(settings.transform, settings.options)
    pinned = bentoml.models.BentoModel(config.model)
    served: dict[str, str] = {}  # the worker's model version, once its API is up

    @bentoml.service(resources={"cpu": "1"}, traffic={"timeout": TIMEOUT_S})
    class Model:
        model_ref = pinned

        def __init__(self) -> None:
            import torch

            torch.set_num_threads(1)  # its share is one CPU: more threads would only compete
            self.predictor = Predictor.load(self.model_ref.path_of(MODEL_FILE))

        # A request that cannot be answered within max_latency_ms is refused as overloaded
        # (503); the API retries those, so load slows answers down instead of failing them.
        @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH, max_latency_ms=1000)
        def score(self, features: np.ndarray) -> np.ndarray:
            return self.predictor.outputs(features)

    @bentoml.service(traffic={"timeout": TIMEOUT_S})
    class Api:
        model_ref = pinned
        scorer = bentoml.depends(Model)

        def __init__(self) -> None:
            # the preprocessing and the target only: the network (torch, Lightning) stays in
            # Model, so the API starts without importing them
            config = Path(self.model_ref.path_of(MODEL_CONFIG))
            if config.exists():
                self.info = ModelFile.read_config(config)
            else:  # a bento built before model.json was written beside the weights
                self.info = ModelFile.read(self.model_ref.path_of(MODEL_FILE))
            self.version = self.model_ref.info.labels.get("model_version", str(self.model_ref.tag))
            served["version"] = self.version  # for the refusals, recorded outside the API

        async def _answer(self, rows: list[BaseModel], named: Callable[[int], str]
                          ) -> list[BaseModel]:
            started = time.perf_counter()
            fields = [row.model_dump() for row in rows]
            features = self.info.preprocessing.transform(transform(rows_frame(fields, numbers)))
            if problem := self.info.preprocessing.unscorable(features, named):
                raise UnprocessableEntity(problem)  # valid fields, but no answer to give
            outputs = await call_with_retry(lambda: self.scorer.to_async.score(features))
            given = answers(answer_type, self.info.target, outputs, self.version)
            if sampled(settings.log_predictions):
                record_rows(fields, [a.model_dump() for a in given],
                            time.perf_counter() - started)
            return given

        @bentoml.api(input_spec=single)
        async def predict(self, **body: Any) -> answer_type:
            (row,) = body.values()
            return (await self._answer([row], lambda _: settings.record))[0]

        @bentoml.api(input_spec=batch)
        async def predict_batch(self, **body: Any) -> list[answer_type]:
            (rows,) = body.values()
            return await self._answer(rows, lambda i: f"{settings.batch}[{i}]")

    # added first, outermost: it also sees the refusals of JsonBodies, and records them as
    # PlainRefusals (innermost, nearest BentoML's validation) says them
    Api.add_asgi_middleware(RecordRefusals, endpoints=("/predict", "/predict_batch"),
                            rate=settings.log_predictions,
                            version=lambda: served.get("version", config.model))
    Api.add_asgi_middleware(JsonBodies)
    Api.add_asgi_middleware(PlainRefusals, wrappers={"/predict": settings.record,
                                                     "/predict_batch": settings.batch},
                            answered=settings.exclude)
    return Api, Model
