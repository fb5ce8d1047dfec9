"""Binary, multiclass and regression targets: inferred, encoded, trained by the default model
and answered in the target's own terms by the model file that serving and evaluation load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine, make_classification

from assetbook.runners.training.fit import TrainingJob, fit
from assetbook.serving.model_file import Predictor
from assetbook.serving.target import Target, infer_task
from assetbook.spec.models import TrainerSpec


@pytest.mark.parametrize(("values", "task"), [
    ([0, 1, 1, 0], "binary"), (["yes", "no", "no"], "binary"), ([True, False], "binary"),
    ([0, 1, 2, 1], "multiclass"), (["a", "b", "c"], "multiclass"),
    ([1.5, 2.25, 3.0], "regression"), (list(range(100)), "regression"),
])
def test_the_task_is_inferred_from_the_target(values: list, task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_labels_round_trip_through_the_encoding() -> None:
    target = Target.fit("kind", "multiclass", pd.Series(["b", "a", "c", "a"]))
    assert target.classes == ("a", "b", "c") and target.n_outputs == 3
    assert target.encode(pd.Series(["c", "a"])).tolist() == [2, 0]
    probabilities = target.decode(np.array([[0.0, 5.0, 0.0], [9.0, 0.0, 0.0]]))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert target.labels(probabilities) == ["b", "a"]
    with pytest.raises(ValueError, match=r"labels \['z'\] not seen in training"):
        target.encode(pd.Series(["z"]))
    regression = Target.fit("y", "regression", pd.Series([10.0, 20.0, 30.0]))
    assert np.allclose(regression.decode(regression.encode(pd.Series([15.0, 30.0]))),
                       [15.0, 30.0])


def _frame(task: str) -> pd.DataFrame:
    if task == "binary":
        x, y = make_classification(n_samples=1200, n_features=12, n_informative=6,
                                   random_state=3)
        return pd.DataFrame(x, columns=[f"x{i}" for i in range(12)]).assign(target=y)
    data = (load_wine if task == "multiclass" else load_diabetes)(as_frame=True)
    return data.frame


@pytest.mark.parametrize(("task", "metric", "level"), [
    ("binary", "accuracy", 0.8), ("multiclass", "accuracy", 0.85), ("regression", "r2", 0.3),
])
def test_the_default_model_learns_each_task(tmp_path: Path, task: str, metric: str,
                                             level: float) -> None:
    frame = _frame(task)
    data = tmp_path / "data.parquet"
    frame.to_parquet(data)
    model_file = tmp_path / "model.pt"
    fit(TrainingJob("assetbook.models:TabularNet", "target", (str(data),),
                    TrainerSpec(max_epochs=40, batch_size=64), {"lr": 0.01},
                    output=str(model_file)))

    predictor = Predictor.load(model_file)
    assert predictor.target.task == task
    answers = predictor.predict(frame)
    truth = frame["target"].to_numpy()
    if task == "regression":
        assert answers.shape == (len(frame),)
        score = 1 - ((answers - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    else:
        assert answers.shape == (len(frame), len(predictor.target.classes))
        score = (np.asarray(predictor.target.labels(answers)) == truth).mean()
    assert score > level, f"{task}: {metric} {score:.3f} <= {level}"
