"""Answers in the target's terms: the most probable class and a probability per class for a
classifier, a value for a regression; each names the model version that gave it."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, create_model

from assetbook.serving.target import Target, Task


def answer_model(task: Task, classes: tuple[Any, ...]) -> type[BaseModel]:
    """The answer's pydantic model, so the OpenAPI document shows the classes."""
    version = (str, Field(description="The registered model version that answered."))
    if task == "regression":
        return create_model("Answer", value=(float, Field(description="The predicted value.")),
                            model_version=version)
    return create_model(
        "Answer",
        label=(Literal[classes], Field(description="The most probable class.")),
        probabilities=(dict[str, float], Field(description="Probability of each class, keyed "
                                               f"by the class: {', '.join(map(str, classes))}.")),
        model_version=version)


def answers(model: type[BaseModel], target: Target, outputs: np.ndarray,
            version: str) -> list[BaseModel]:
    """One answer per row of decoded outputs (`Predictor.outputs`)."""
    if target.task == "regression":
        return [model(value=float(value), model_version=version) for value in outputs]
    keys = [str(label) for label in target.classes]
    return [model(label=label, probabilities=dict(zip(keys, row.tolist(), strict=True)),
                  model_version=version)
            for label, row in zip(target.labels(outputs), outputs, strict=True)]
