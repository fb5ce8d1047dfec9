"""Answers follow the task: the most probable class and a probability per class for a
classifier, a value for a regression, each with the model version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from assetbook.serving.answers import answer_model, answers
from assetbook.serving.target import Target


def test_a_multiclass_answer_names_each_class() -> None:
    target = Target("kind", "multiclass", ("a", "b", "c"))
    model = answer_model(target.task, target.classes)
    outputs = target.decode(np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]], dtype=np.float32))
    first, second = (a.model_dump() for a in answers(model, target, outputs, "7"))
    assert first["label"] == "b" and second["label"] == "a"
    assert list(first["probabilities"]) == ["a", "b", "c"]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert first["model_version"] == "7"
    assert model.model_json_schema()["properties"]["label"]["enum"] == ["a", "b", "c"]


def test_a_binary_answer_keeps_integer_labels() -> None:
    target = Target.fit("label", "binary", pd.Series([0, 1, 1]))
    model = answer_model(target.task, target.classes)
    (answer,) = answers(model, target, target.decode(np.array([2.0], dtype=np.float32)), "1")
    assert answer.model_dump(mode="json") == {
        "label": 1, "model_version": "1",
        "probabilities": {"0": pytest.approx(0.1192, abs=1e-4),
                          "1": pytest.approx(0.8808, abs=1e-4)}}
    with pytest.raises(ValidationError):
        model(label=2, probabilities={}, model_version="1")


@pytest.mark.filterwarnings("error")
def test_a_confident_binary_answer_is_certain_and_warns_nothing() -> None:
    """A served model's outputs far from zero (the logistic's exp overflowed, and numpy's
    warning reached the server's log)."""
    target = Target("label", "binary", (0, 1))
    probabilities = target.decode(np.array([-1000.0, 1000.0], dtype=np.float32))
    assert probabilities.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_a_regression_answer_is_a_value() -> None:
    target = Target("price", "regression", (), mean=10.0, scale=2.0)
    model = answer_model(target.task, target.classes)
    outputs = target.decode(np.array([1.0, -0.5], dtype=np.float32))
    assert [a.model_dump() for a in answers(model, target, outputs, "3")] == [
        {"value": 12.0, "model_version": "3"}, {"value": 9.0, "model_version": "3"}]
