"""The default model of a new project: an MLP on standardised tabular features, for binary,
multiclass and regression targets alike.

The contract Assetbook expects of any model, this one included: `__init__(n_features,
**hyperparameters)`, plus `n_outputs` and `task` when it accepts them; batches of `(x, y)`
tensors (y: 0/1 floats for binary, class indices for multiclass, standardised floats for
regression); `forward(x)` returning one output per class (one logit or value per row when
`n_outputs` is 1); a logged `val_loss`. Everything else is ordinary Lightning.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

LOSSES = {"binary": nn.BCEWithLogitsLoss, "multiclass": nn.CrossEntropyLoss,
          "regression": nn.MSELoss}


class _EpochOutputs:
    """An epoch's outputs and targets on this rank, kept as the steps make them and reduced
    once at the epoch's end. The outputs are copied into one growing buffer: a tensor kept a
    step would pin its small block of the heap between the step's freed activations (+220 MB
    at 1.1M rows). The targets are views of the epoch's batches."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None
        self.rows = 0
        self.targets: list[torch.Tensor] = []

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        end = self.rows + len(outputs)
        if self.buffer is None or end > len(self.buffer):
            grown = outputs.new_empty((max(2 * end, 4096), *outputs.shape[1:]))
            if self.buffer is not None:
                grown[:self.rows] = self.buffer[:self.rows]
            self.buffer = grown
        self.buffer[self.rows:end] = outputs.detach()
        self.rows = end
        self.targets.append(targets)

    def outputs(self) -> torch.Tensor:
        assert self.buffer is not None
        return self.buffer[:self.rows]


class TabularNet(pl.LightningModule):
    def __init__(self, n_features: int, n_outputs: int = 1, task: str = "binary",
                 hidden: int = 64, layers: int = 2, dropout: float = 0.1, lr: float = 3e-3,
                 weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.save_hyperparameters()
        blocks: list[nn.Module] = []
        width = n_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, n_outputs))
        self.loss = LOSSES[task]()
        self.task = task
        self._kept: dict[str, _EpochOutputs] = {}  # by stage: "train", "val"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if self.task == "multiclass" else out.squeeze(-1)

    def __setattr__(self, name: str, value: object) -> None:
        # Lightning sets `_current_fx_name` around every hook it calls, ~50 times a step, and
        # nn.Module's checks for a parameter, buffer or submodule cost ~2.5 us each time (with
        # leaner sums a step, fit went from 0.65x to 0.71x of a hand-written loop at batch 256,
        # bench_training.py). That name only ever holds a hook's name or None.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _keep(self, outputs: torch.Tensor, y: torch.Tensor, stage: str) -> None:
        # kept here, reduced and logged once an epoch: sums a step cost 10% of a fit
        # (bench_training.py), and `self.log` a step as much as the step itself. An epoch's
        # outputs are a few bytes a row.
        kept = self._kept.get(stage)
        if kept is None:
            kept = self._kept[stage] = _EpochOutputs()
        kept.add(outputs, y)

    def _log_epoch(self, stage: str) -> None:
        """The epoch's means over every row of every rank: the loss and accuracy of the kept
        outputs as sums, reduced with their row counts alike."""
        kept = self._kept.pop(stage, None)
        if kept is None:
            return
        outputs, targets = kept.outputs(), torch.cat(kept.targets)
        if outputs.element_size() < 4:  # bf16 or fp16 from a mixed-precision step
            outputs = outputs.float()
        rows = len(targets)
        correct = 0
        if self.task != "regression":
            predicted = outputs.argmax(-1) if self.task == "multiclass" else outputs > 0
            correct = (predicted == targets).sum()
        sums = torch.stack([torch.as_tensor(value, dtype=torch.float32, device=self.device)
                            for value in (self.loss(outputs, targets) * rows, correct, rows)])
        loss_sum, correct, rows = self.trainer.strategy.reduce(sums, reduce_op="sum")
        # already the same on every rank; sync_dist averages equals (and Lightning asks for it)
        self.log(f"{stage}_loss", loss_sum / rows, sync_dist=True)
        if self.task != "regression":
            self.log(f"{stage}_accuracy", correct / rows, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self._kept.pop("train", None)

    def on_validation_epoch_start(self) -> None:
        self._kept.pop("val", None)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        outputs = self(x)
        self._keep(outputs, y, "train")
        return self.loss(outputs, y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        self._keep(self(x), y, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                 weight_decay=self.hparams.weight_decay)
