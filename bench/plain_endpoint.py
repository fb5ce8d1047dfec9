"""The baseline: the same model file behind a plain Starlette endpoint, one forward pass per
request, no batching (`python bench/plain_endpoint.py MODEL_FILE PORT`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from assetbook.serving.model_file import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.features import make_features  # noqa: E402


def app_for(model_file: Path) -> Starlette:
    predictor = Predictor.load(model_file)
    classes = predictor.target.classes
    torch.set_num_threads(1)

    async def predict(request: Request) -> JSONResponse:
        application = (await request.json())["application"]
        (row,) = predictor.predict(make_features(pd.DataFrame([application])))
        return JSONResponse({"label": classes[int(row.argmax())],
                             "probabilities": dict(zip(map(str, classes), row.tolist(),
                                                       strict=True))})

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app_for(Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]),
                log_level="warning")
