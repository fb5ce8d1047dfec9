"""Several batches per Lightning step, for modules that train the plain way.

Lightning's loop spends ~0.4 ms a step around the module's own work (hook dispatch, profiler
contexts, the results' bookkeeping): at batch 256 on a small tabular model, a third of the fit
(bench_training.py). Keras answers the same cost with `steps_per_execution`. Here the loaders
hand each Lightning step a group of batches; for each batch the module's own `training_step`
runs, then the loss's backward and the optimizer's step (counted in `global_step`), or its
`validation_step`: the same updates in the same order, `self.log`'s epoch means weighed by each
batch, the loggers' steps counting batches, and a sanity check of Lightning's number of
batches. A module's per-step `self.log` reaches them once a group.

Only where nothing can tell the difference: one device without DDP, one optimizer, no
scheduler, no gradient scaling, clipping or accumulation, a plain optimizer step (not XLA's),
and a module that leaves Lightning's per-batch hooks as they are (manual optimization would
call them once a group, or not at all) and adds no callbacks. Assetbook's own callbacks act on
epochs. Any other fit takes a batch a step.

Imports Lightning: `fit` imports this module when it runs, not at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy, Strategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from pytorch_lightning.utilities.signature_utils import is_param_in_hook_signature

# Lightning's own interval for per-step logging is 50 steps; an epoch of 8,000 rows at batch
# 256 is one step (0.82x -> 0.84x of the hand-written loop against 16, bench_training.py)
STEPS_PER_GROUP = 64

PER_BATCH_HOOKS = (
    "on_train_batch_start", "on_train_batch_end", "on_validation_batch_start",
    "on_validation_batch_end", "on_before_batch_transfer", "transfer_batch_to_device",
    "on_after_batch_transfer", "backward", "on_before_backward", "on_after_backward",
    "on_before_zero_grad", "optimizer_zero_grad", "on_before_optimizer_step", "optimizer_step",
    "lr_scheduler_step", "configure_gradient_clipping", "configure_callbacks",
)

Step = Callable[..., Any]

# a precision plugin whose optimizer step, without a gradient scaler, is the torch optimizer's
# own after the closure's hooks (not XLA's, DeepSpeed's or FSDP's)
_PLAIN_OPTIMIZER_STEPS = (Precision.optimizer_step, MixedPrecision.optimizer_step)


class Groups:
    """The batches of `batches`, `size` at a time (the last group may be shorter)."""

    def __init__(self, batches: Any, size: int) -> None:
        self.batches, self.size = batches, size

    def __len__(self) -> int:
        return -(-len(self.batches) // self.size)

    def __iter__(self) -> Iterator[list[Any]]:
        group: list[Any] = []
        for batch in self.batches:
            group.append(batch)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group


def groups_apply(trainer: pl.Trainer) -> bool:
    """Whether this fit's steps can take groups of batches without changing what it computes.
    Asked as the first loader is made: the optimizers exist by then, no step has run."""
    module = trainer.lightning_module
    return (isinstance(trainer.strategy, SingleDeviceStrategy)  # no DDP wrapper, even of one
            and module.automatic_optimization
            and len(trainer.optimizers) == 1 and not trainer.lr_scheduler_configs
            and getattr(trainer.precision_plugin, "scaler", None) is None
            and type(trainer.strategy).optimizer_step is Strategy.optimizer_step
            and type(trainer.precision_plugin).optimizer_step in _PLAIN_OPTIMIZER_STEPS
            and trainer.accumulate_grad_batches == 1 and not trainer.gradient_clip_val
            and not any(is_overridden(hook, module) for hook in PER_BATCH_HOOKS))


def steps_in_groups(trainer: pl.Trainer, size: int) -> None:
    """Switch the fit's module to one Lightning step a group of `size` batches (`Groups`)."""
    module = trainer.lightning_module
    module.automatic_optimization = False
    module.training_step = _grouped(trainer, module.training_step, size, optimize=True)
    if is_overridden("validation_step", module):  # an instance's own would count as one
        module.validation_step = _grouped(trainer, module.validation_step, size)


def _grouped(trainer: pl.Trainer, step: Step, size: int, optimize: bool = False) -> Step:
    takes_index = is_param_in_hook_signature(step, "batch_idx", min_args=2)

    def group_step(group: list[Any], batch_idx: int) -> Any:
        if trainer.sanity_checking:  # its `num_sanity_val_steps` counts batches, not groups
            left = trainer.num_sanity_val_steps - batch_idx * size  # inf for -1: all
            group = group[:int(min(len(group), max(0, left)))]
        results = trainer._results  # what `self.log` weighs an epoch's mean by: each batch
        optimizer = trainer.lightning_module.optimizers() if optimize else None
        output = None
        for offset, batch in enumerate(group):
            results.batch, results.batch_size = batch, None
            output = step(batch, batch_idx * size + offset) if takes_index else step(batch)
            if optimizer is not None:
                _optimizer_step(optimizer, output)
        if optimize:  # the step loggers are given: Lightning counts the group as one batch
            trainer.fit_loop.epoch_loop._batches_that_stepped += len(group) - 1
        return output

    return group_step


def _optimizer_step(optimizer: Any, output: Any) -> None:
    """What automatic optimization does after a training step, in its order."""
    loss = output["loss"] if isinstance(output, Mapping) else output
    if loss is None:  # the module skipped this batch, as automatic optimization allows
        return
    optimizer.zero_grad()
    loss.backward()  # no hook, scaler or DDP to go through (groups_apply)
    # the torch optimizer's own step: Lightning's would pass through the precision plugin's
    # closure and the `on_before_optimizer_step` hooks (none overridden: groups_apply), ~45 us
    # a batch; `_on_before_step` / `_on_after_step` are what it counts `global_step` with
    optimizer._on_before_step()
    optimizer.optimizer.step()
    optimizer._on_after_step()
