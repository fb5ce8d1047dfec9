"""The evaluation notebook, run for real on tiny models of each task: the metrics it writes
are those scikit-learn gives on the same predictions, overall and per held-out day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.datasets import load_diabetes, load_wine, make_classification

from assetbook.runners.notebook import NotebookRunner
from assetbook.runners.training.fit import TrainingJob, fit
from assetbook.serving.model_file import Predictor
from assetbook.serving.target import Target, Task
from assetbook.spec.models import TrainerSpec
from tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "evaluation.ipynb"
THRESHOLD = 0.4  # not the default: the notebook must read config.threshold


def sample(task: Task) -> pd.DataFrame:
    if task == "binary":
        x, y = make_classification(n_samples=600, n_features=6, random_state=1)
        return pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(target=y)
    return (load_wine if task == "multiclass" else load_diabetes)(as_frame=True).frame


def held_out_days(task: Task, frame: pd.DataFrame, folder: Path) -> list[dict[str, str]]:
    """Two days; the second lacks a class (the last, for multiclass; the positive, for
    binary), so that the metrics it cannot define are seen left out."""
    first, second = frame.iloc[::2], frame.iloc[1::2]
    if task != "regression":
        second = second[second["target"] != frame["target"].max()]
    days = []
    for key, rows in (("day-1", first), ("day-2", second)):
        rows.to_parquet(folder / f"{key}.parquet")
        days.append({"key": key, "path": str(folder / f"{key}.parquet")})
    return days


def train(data: Path, output: Path, seed: int) -> str:
    fit(TrainingJob("assetbook.models:TabularNet", "target", (str(data),),
                    TrainerSpec(max_epochs=5, seed=seed), output=str(output)))
    return str(output)


def expected(target: Target, y: np.ndarray, answer: np.ndarray) -> dict[str, float]:
    """scikit-learn straight on the model's answers: what the report must hold."""
    if target.task == "regression":
        return {"rmse": np.sqrt(metrics.mean_squared_error(y, answer)),
                "mae": metrics.mean_absolute_error(y, answer),
                "r2": metrics.r2_score(y, answer), "rows": len(y)}
    if target.task == "binary":
        positive, truth = answer[:, 1], (y == target.classes[1]).astype(int)
        predicted = (positive >= THRESHOLD).astype(int)
        scores = {"accuracy": metrics.accuracy_score(truth, predicted),
                  "f1": metrics.f1_score(truth, predicted, zero_division=0),
                  "log_loss": metrics.log_loss(truth, positive, labels=[0, 1]),
                  "brier": metrics.brier_score_loss(truth, positive), "rows": len(y)}
        if 0 < truth.sum() < len(truth):
            scores |= {"roc_auc": metrics.roc_auc_score(truth, positive),
                       "average_precision": metrics.average_precision_score(truth, positive)}
        return scores
    classes = list(target.classes)
    predicted = np.asarray(classes)[answer.argmax(axis=1)]
    scores = {"accuracy": metrics.accuracy_score(y, predicted),
              "balanced_accuracy": metrics.balanced_accuracy_score(y, predicted),
              "f1_macro": metrics.f1_score(y, predicted, average="macro", zero_division=0),
              "log_loss": metrics.log_loss(y, answer, labels=classes), "rows": len(y)}
    if set(classes) <= set(y.tolist()):
        scores["roc_auc_ovr"] = metrics.roc_auc_score(y, answer, multi_class="ovr")
    return scores


def assert_scores(written: dict[str, float], wanted: dict[str, Any]) -> None:
    assert sorted(written) == sorted(wanted)
    for metric, value in wanted.items():
        assert written[metric] == pytest.approx(value, abs=1e-6), metric


def run(tmp_path: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    output = tmp_path / "report.json"
    NotebookRunner().run(NOTEBOOK, {**parameters, "output": str(output)},
                         tmp_path / "executed.ipynb", REPO, "test evaluation")
    return json.loads(output.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_report_holds_what_sklearn_gives_per_task(tmp_path: Path, task: Task) -> None:
    frame = sample(task).sample(frac=1, random_state=0, ignore_index=True)
    middle = len(frame) // 2
    frame.iloc[:middle].to_parquet(tmp_path / "train.parquet")
    days = held_out_days(task, frame.iloc[middle:], tmp_path)
    models = {"candidate": train(tmp_path / "train.parquet", tmp_path / "candidate.pt", 0),
              "champion": train(tmp_path / "train.parquet", tmp_path / "champion.pt", 1)}

    report = run(tmp_path, {
        "candidate": models["candidate"], "candidate_version": "2",
        "champion": models["champion"], "champion_version": "1", "days": days,
        "config": {"threshold": THRESHOLD}})

    assert report["task"] == task and report["days"] == ["day-1", "day-2"]
    assert (report["candidate_version"], report["champion_version"]) == ("2", "1")
    frames = {d["key"]: pd.read_parquet(d["path"]) for d in days}
    held_out = pd.concat(frames.values(), ignore_index=True)
    for name, path in models.items():
        predictor = Predictor.load(path)
        assert predictor.target.task == task
        assert_scores(report[name], expected(predictor.target, held_out["target"].to_numpy(),
                                             predictor.predict(held_out)))
        for key, rows in frames.items():
            assert_scores(report["per_day"][name][key], expected(
                predictor.target, rows["target"].to_numpy(), predictor.predict(rows)))
    if task != "regression":  # the day without a class still has its other metrics
        assert {"roc_auc", "roc_auc_ovr"}.isdisjoint(report["per_day"]["candidate"]["day-2"])
        assert "accuracy" in report["per_day"]["candidate"]["day-2"]


@pytest.mark.slow
def test_the_notebook_runs_on_its_own_with_a_demo_model(tmp_path: Path) -> None:
    report = run(tmp_path, {})
    assert report["task"] == "binary" and report["champion"] is None
    assert report["days"] == ["day-1", "day-2"]
    assert sorted(report["candidate"]) == ["accuracy", "average_precision", "brier", "f1",
                                           "log_loss", "roc_auc", "rows"]
    assert report["candidate"]["roc_auc"] > 0.8  # the demo model learned something


def test_the_committed_notebook_has_no_outputs() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)
