"""A fit takes several batches a Lightning step where nothing can tell (grouped.py): a user's
own module, on data other than the loans stream, trains to the same weights, metrics and step
count either way, and a module with per-batch hooks or a scheduler keeps a batch a step."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assetbook.runners.training.fit import FitResult, TrainingJob, fit, load_dataset
from assetbook.serving.model_file import ModelFile
from assetbook.spec.models import TrainerSpec
from tests.ports import free_port

# A user's classifier: its own `self.log` of an epoch mean in `training_step`, the step count
# and whether its steps ran in groups (Lightning's manual optimization) logged as it ends.
MODULE = '''
import pytorch_lightning as pl
import torch
from torch import nn


class Blobs(pl.LightningModule):
    def __init__(self, n_features, n_outputs, task, hidden=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, n_outputs))
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", self.loss(self(x), y), sync_dist=True)
        self.sanity_batches = getattr(self, "sanity_batches", 0) + self.trainer.sanity_checking

    def on_train_epoch_end(self):
        self.log("steps", float(self.trainer.global_step), sync_dist=True)
        self.log("grouped", float(not self.automatic_optimization), sync_dist=True)
        self.log("sanity_batches", float(self.sanity_batches), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class WithBatchHook(Blobs):
    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.batches_seen = getattr(self, "batches_seen", 0) + 1
        self.log("batches_seen", float(self.batches_seen))


class WithBatchTransfer(Blobs):
    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch  # one batch, as Lightning hands it
        return x + 0.01 * torch.randn_like(x), y


class WithScheduler(Blobs):
    def configure_optimizers(self):
        optimizer = super().configure_optimizers()
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]
'''


@pytest.fixture
def blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three classes of sensor readings around different centres, 2,150 rows (a last batch
    of each epoch short), and the user's module importable as `blobs_model`."""
    (tmp_path / "blobs_model.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(7)
    kind = rng.integers(0, 3, 2150)
    readings = rng.normal(size=(2150, 4)) + kind[:, None] * np.array([1.0, -0.5, 0.8, 0.0])
    frame = pd.DataFrame(readings, columns=["pressure", "flow", "vibration", "noise"])
    frame["kind"] = np.array(["pump", "valve", "fan"])[kind]
    path = tmp_path / "readings.parquet"
    frame.to_parquet(path)
    return path


def blobs_job(data: Path, model: str, output: Path, **trainer: object) -> TrainingJob:
    return TrainingJob(f"blobs_model:{model}", "kind", (str(data),),
                       TrainerSpec(max_epochs=3, batch_size=64, **trainer), output=str(output),
                       metrics=str(output.with_suffix(".jsonl")))


def logged_steps(output: Path) -> list[int]:
    """The steps at which the fit's logger (MLflow's, through the file) received each epoch's
    `val_loss`."""
    records = map(json.loads, output.with_suffix(".jsonl").read_text().splitlines())
    return [record["step"] for record in records if "val_loss" in record.get("metrics", {})]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_grouped_steps_train_as_a_batch_a_step_does(blobs: Path, tmp_path: Path) -> None:
    grouped = fit(blobs_job(blobs, "Blobs", tmp_path / "grouped.pt"))
    single = fit(blobs_job(blobs, "WithBatchHook", tmp_path / "single.pt"))

    assert (grouped.metrics["grouped"], single.metrics["grouped"]) == (1.0, 0.0)
    batches = -(-grouped.train_rows // 64)  # 1,720 training rows: 27 batches, the last of 56
    assert single.metrics["batches_seen"] == 3 * batches  # the user's hook, every batch
    for result in (grouped, single):  # an optimizer step each batch, counted
        assert result.metrics["steps"] == 3 * batches
    shared = {"train_loss", "val_loss", "steps", "sanity_batches"}
    assert {k: grouped.metrics[k] for k in shared} == {k: single.metrics[k] for k in shared}
    assert grouped.metrics["sanity_batches"] == 2  # Lightning's sanity check: 2 batches
    assert logged_steps(tmp_path / "grouped.pt") == logged_steps(tmp_path / "single.pt")
    assert logged_steps(tmp_path / "grouped.pt") == [batches - 1, 2 * batches - 1,
                                                     3 * batches - 1]  # Lightning's count
    a, b = weights(tmp_path / "grouped.pt"), weights(tmp_path / "single.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("model", "trainer"), [("WithScheduler", {}),
                                               ("WithBatchTransfer", {}),
                                               ("Blobs", {"strategy": "ddp"})],
                         ids=["a scheduler", "a batch transfer hook", "DDP on one device"])
def test_a_batch_a_step_where_groups_would_change_the_fit(
        blobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str,
        trainer: dict) -> None:
    # DDP in this process: its address is set here so that it goes with the test
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    try:
        result = fit(blobs_job(blobs, model, tmp_path / "m.pt", **trainer))
    finally:
        if torch.distributed.is_initialized():  # Lightning keeps it for a next fit
            torch.distributed.destroy_process_group()
    assert result.metrics["grouped"] == 0.0 and result.metrics["steps"] == 3 * 27


def test_the_default_models_epoch_metrics_are_those_of_the_whole_validation_set(
        blobs: Path, tmp_path: Path) -> None:
    """TabularNet keeps its outputs and reduces them once an epoch (a step adds no sums)."""
    job = TrainingJob("assetbook.models:TabularNet", "kind", (str(blobs),),
                      TrainerSpec(max_epochs=2, batch_size=64), output=str(tmp_path / "t.pt"))
    result: FitResult = fit(job)
    dataset = load_dataset(job)
    _, module = ModelFile.load(tmp_path / "t.pt")
    with torch.no_grad():
        outputs = module(torch.from_numpy(dataset.x_val))
    labels = torch.from_numpy(dataset.y_val)
    assert result.metrics["val_loss"] == pytest.approx(float(module.loss(outputs, labels)),
                                                       abs=1e-5)
    accuracy = float((outputs.argmax(-1) == labels).float().mean())
    assert result.metrics["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result.metrics["val_accuracy"] > 0.6
