"""Where a fit is, for the people watching it: "epoch 3 of 10, val_loss 0.412".

The fit runs in its own process (and under DDP, several), so rank 0 appends a line per epoch
to a small file that the launching process reads while it waits, and hands to the step's log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Report = Callable[[str], None]


def epoch_callback(path: Path, metric: str = "val_loss") -> Any:
    """A Lightning callback that writes the epoch just validated, and `metric`, to `path`."""
    import pytorch_lightning as pl

    class EpochProgress(pl.Callback):
        def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            # not on_validation_epoch_end: the module's own, which may log, runs after ours
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            line = f"epoch {trainer.current_epoch + 1} of {trainer.max_epochs}"
            value = trainer.callback_metrics.get(metric)
            if value is not None:
                line += f", {metric} {float(value):.4f}"
            with path.open("a") as progress:
                progress.write(line + "\n")

    return EpochProgress()


def new_lines(path: Path, offset: int) -> tuple[int, list[str]]:
    """The complete lines appended to `path` after `offset`, and the offset after them (a
    line being written waits for the next call)."""
    if not path.exists():
        return offset, []
    with path.open("rb") as appended:
        appended.seek(offset)
        text = appended.read().decode()
    complete = text[:text.rfind("\n") + 1]
    return offset + len(complete.encode()), complete.splitlines()


class ProgressFile:
    """Reads the lines appended to `path` and reports each complete one once."""

    def __init__(self, path: Path, report: Report | None) -> None:
        self.path, self.report, self.offset = path, report, 0

    def poll(self) -> None:
        if self.report is None:
            return
        self.offset, lines = new_lines(self.path, self.offset)
        for line in lines:
            self.report(line)
