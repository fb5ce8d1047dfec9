"""Mini-batches by tensor slicing, for training data that already sits in memory.

A `DataLoader(TensorDataset(...))` indexes and collates every sample one at a time: fed that
way, `fit` trained at about a quarter of the samples/s of a hand-written loop that slices
shuffled tensors. One gather an epoch and slices of it cost next to nothing. Under DDP each rank
takes every world-th row of the same seeded permutation, as `DistributedSampler` does, so the
ranks' step-s batches together are the one-process step-s batch of the global size.

Imports torch and Lightning: `fit` imports this module when it runs, not at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from assetbook.runners.training.data import Dataset
from assetbook.runners.training.grouped import (
    STEPS_PER_GROUP,
    Groups,
    groups_apply,
    steps_in_groups,
)


class Batches:
    """`(x, y)` batches of this rank's share of the rows: in a new order every epoch if `seed`
    is given (epoch e's permutation is seeded with `seed + e`, `epoch()` says which epoch is
    starting), in row order otherwise.

    `even` wraps around to a multiple of `world` rows, so that every rank takes the same number
    of steps (DDP's gradient all-reduce waits for all of them). Without it (validation) no row
    counts twice, except that each rank gets one at least (Lightning refuses an empty loader).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int, rank: int = 0,
                 world: int = 1, seed: int | None = None, even: bool = True,
                 epoch: Callable[[], int] = lambda: 0) -> None:
        self.x, self.y, self.batch, self.rank, self.world = x, y, batch, rank, world
        self.seed, self.even, self.epoch = seed, even, epoch

    def _positions(self) -> range:
        """This rank's positions in the epoch's order, wrapped around past its end."""
        n = len(self.x)
        total = -(-n // self.world) * self.world if self.even else max(n, self.world)
        return range(self.rank, total, self.world)

    def __len__(self) -> int:
        return -(-len(self._positions()) // self.batch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.seed is None:
            order = torch.arange(n)
        else:
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            order = torch.randperm(n, generator=generator)
        positions = self._positions()
        mine = order[torch.arange(positions.start, positions.stop, positions.step) % n]
        x, y = self.x[mine], self.y[mine]  # one gather an epoch; the batches are views of it
        for start in range(0, len(mine), self.batch):
            yield x[start:start + self.batch], y[start:start + self.batch]


class TensorData(pl.LightningDataModule):
    """The dataset as this rank's `Batches`. A data module because the rank and the world size
    are only known once the Trainer has set up its strategy, when it asks for the loaders. The
    batches come in groups where the fit allows it (grouped.py)."""

    def __init__(self, dataset: Dataset, batch: int, seed: int) -> None:
        super().__init__()
        self.dataset, self.batch, self.seed = dataset, batch, seed
        self.group: int | None = None  # batches a step: decided as the first loader is asked

    def train_dataloader(self) -> Batches | Groups:
        return self._grouped(self._batches(self.dataset.x_train, self.dataset.y_train,
                                           seed=self.seed,
                                           epoch=lambda: self.trainer.current_epoch))

    def val_dataloader(self) -> Batches | Groups:
        # Unpadded shards: `self.log(..., sync_dist=True)` reduces the ranks' batch-size-weighted
        # sums and their row counts alike, so the epoch's metric is exactly the whole set's.
        return self._grouped(self._batches(self.dataset.x_val, self.dataset.y_val, even=False))

    def _grouped(self, batches: Batches) -> Batches | Groups:
        if self.group is None:
            self.group = STEPS_PER_GROUP if groups_apply(self.trainer) else 1
            if self.group > 1:
                steps_in_groups(self.trainer, self.group)
        return Groups(batches, self.group) if self.group > 1 else batches

    def _batches(self, x: np.ndarray, y: np.ndarray, **options: Any) -> Batches:
        return Batches(torch.from_numpy(x), torch.from_numpy(y), self.batch,
                       self.trainer.global_rank, self.trainer.world_size, **options)
