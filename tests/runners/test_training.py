"""The trainer: one code path for 1 and N processes, weights-only model files, clear errors."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch

from assetbook.errors import StepTimeoutError
from assetbook.runners.training.data import TrainingDataError, prepare
from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.training.launch import TrainingError, train
from assetbook.serving.model_file import ModelFile, ModelImportError, import_model_class
from assetbook.spec.models import TrainerSpec
from tests.conftest import write_days

MODEL = "project.models:LoanClassifier"


def job(paths: list[str], output: Path | None, **trainer: object) -> TrainingJob:
    settings = TrainerSpec(**{"max_epochs": 4, "batch_size": 128, **trainer})
    return TrainingJob(MODEL, "label", tuple(paths), settings, {"hidden": 32},
                       str(output) if output else None)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path, session_log: Path) -> None:
    paths = write_days(tmp_path / "data", 3, rows=1500, label_noise=0.0)
    single = train(job(paths, tmp_path / "one.pt"), tmp_path / "w1")
    double = train(job(paths, tmp_path / "two.pt", devices=2), tmp_path / "w2")

    assert (single.world_size, double.world_size) == (1, 2)
    # Same data, same global batch, gradients averaged over 2 gloo ranks: same quality.
    assert single.metrics["val_accuracy"] > 0.85
    assert abs(single.metrics["val_accuracy"] - double.metrics["val_accuracy"]) < 0.03
    assert abs(single.metrics["val_loss"] - double.metrics["val_loss"]) < 0.05
    assert not session_log.exists()  # DDP re-ran the training script, never pytest

    info, module = ModelFile.load(tmp_path / "two.pt")
    assert info.hyperparameters == {"hidden": 32} and info.target.name == "label"
    assert (info.target.task, info.target.classes) == ("binary", (0, 1))
    frame = pd.read_parquet(paths[0])
    with torch.no_grad():
        logits = module(torch.from_numpy(info.preprocessing.transform(frame)))
    assert ((logits > 0).numpy() == frame["label"].to_numpy()).mean() > 0.85


def test_model_file_holds_only_tensors_and_data(tmp_path: Path) -> None:
    paths = write_days(tmp_path / "data", 1, rows=300)
    train(job(paths, tmp_path / "m.pt", max_epochs=1), tmp_path / "w")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)  # would refuse pickled code
    assert payload["model"] == MODEL
    assert payload["preprocessing"]["features"][:3] == ["salary", "commission", "age"]
    assert all(isinstance(t, torch.Tensor) for t in payload["state_dict"].values())


def test_a_tracked_fit_reaches_its_mlflow_run_without_mlflow_in_the_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit's parameters and each epoch's metrics reach its MLflow run, sent by the
    launching process: the training process never imports MLflow (~2 s of CPU)."""
    from mlflow import MlflowClient

    blocker = tmp_path / "blocker" / "mlflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("the fit imported mlflow")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(blocker.parent), os.environ.get("PYTHONPATH")])))  # the training process's path
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("fits")).info.run_id
    paths = write_days(tmp_path / "data", 1, rows=300)

    train(replace(job(paths, tmp_path / "m.pt", max_epochs=3), mlflow_tracking_uri=uri,
                  mlflow_run_id=run_id), tmp_path / "w")

    assert len(client.get_metric_history(run_id, "val_loss")) == 3  # one an epoch
    assert client.get_run(run_id).data.params["hidden"] == "32"


def test_same_seed_same_weights(tmp_path: Path) -> None:
    paths = write_days(tmp_path / "data", 1, rows=300)
    lines: list[str] = []
    for name in ("a", "b"):
        train(job(paths, tmp_path / f"{name}.pt", max_epochs=2), tmp_path / name,
              report=lines.append)
    assert [line.split(",")[0] for line in lines] == ["epoch 1 of 2", "epoch 2 of 2"] * 2
    assert all(line.split(", ")[1].startswith("val_loss 0.") for line in lines)
    logged = (tmp_path / "a" / "train.log").read_text()
    assert "`Trainer.fit` stopped" in logged and "deprecated" not in logged  # no third party's
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_timed_out_training_leaves_no_model_and_no_rank(tmp_path: Path) -> None:
    """Two DDP ranks: Lightning starts the second, which outlives a kill of the first alone."""
    paths = write_days(tmp_path / "data", 2, rows=2000)
    output, workdir = tmp_path / "model.pt", tmp_path / "w"
    with pytest.raises(StepTimeoutError, match=r"^training: timed out after 30 s .* the "
                       "training processes are stopped; log"):
        train(job(paths, output, max_epochs=10_000, devices=2), workdir, timeout_s=30)
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]
    # rank 0 says so once it has started the other rank
    assert "Initializing distributed: GLOBAL_RANK: 0" in (workdir / "train.log").read_text()
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if str(workdir) in " ".join(p.info["cmdline"] or [])]
    assert not left


def test_errors_cross_the_process_boundary(tmp_path: Path) -> None:
    paths = write_days(tmp_path / "data", 1, rows=200, label_noise=0.0, function=1)
    frame = pd.read_parquet(paths[0])
    one_class = tmp_path / "one_class.parquet"
    frame.assign(label=1).to_parquet(one_class)
    with pytest.raises(TrainingError, match=r"single class \(label = 1\)"):
        train(job([str(one_class)], tmp_path / "m.pt"), tmp_path / "w")
    with pytest.raises(TrainingError, match="module 'no_such_package.models' does not import"):
        train(TrainingJob("no_such_package.models:Net", "label", tuple(paths), TrainerSpec()),
              tmp_path / "w")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"x": [], "label": []}), "the training window has no rows"),
        (pd.DataFrame({"x": [1.0, None], "label": [0, 1]}),
         r"values no model can learn from: x: 1 NaN \(the features notebook"),
        (pd.DataFrame({"x": [1.0, np.inf, -np.inf], "y": [None, None, 1.0], "label": [0, 1, 0]}),
         "values no model can learn from: x: 2 inf; y: 2 NaN"),  # a division by zero
        (pd.DataFrame({"x": [1.0, 2.0], "label": [0, 0]}), r"single class \(label = 0\)"),
        (pd.DataFrame({"x": [1.0, 2.0]}), "target column 'label' is missing; columns: x"),
        (pd.DataFrame({"x": [1.0, 2.0], "labels": [0, 1]}),
         r"target column 'label' is missing \(did you mean 'labels'\? the spec's `target:`\)"),
    ],
)
def test_bad_training_windows(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(TrainingDataError, match=message):
        prepare(frame, "label", 0.2, 0)


def test_preprocessing_is_fitted_on_training_rows_only() -> None:
    frame = pd.DataFrame({"x": [float(i) for i in range(100)], "label": [0, 1] * 50})
    dataset = prepare(frame, "label", 0.5, seed=1)
    assert abs(dataset.x_train.mean()) < 1e-6  # centred on its own rows ...
    assert abs(dataset.x_val.mean()) > 1e-3  # ... not on the held-out ones


def test_model_reference_errors() -> None:
    with pytest.raises(ModelImportError, match="module 'project.models' has no 'Nope'"):
        import_model_class("project.models:Nope")
    with pytest.raises(ModelImportError, match="is not a torch module class"):
        import_model_class("project.stream:LoanStream")
