"""Training on a Ray cluster through Ray Train: the same Lightning fit as a training subprocess
runs (`fit.fit`), its ranks Ray Train workers on whichever of the cluster's nodes have room, in
DDP (gloo on CPUs, nccl on GPUs).

What a subprocess gets from its machine, a worker on another node does not: its working
directory is Ray's, so local data paths are made absolute here (URLs such as `s3://` are read
by the workers themselves, with the variables passed in `env`); and its disk is not the
driver's, so rank 0 returns the model file's bytes and its epoch lines through Ray, and the
driver writes the file at `job.output`.

The run belongs to an actor this process starts and owns, pinned to this node: Ray Train's
controller (created by that actor) and the workers (created by the controller) die with it, so
killing it on a timeout stops all of them, wherever they run; and the run's `storage_path`, a
local folder, is on the node the controller runs on. The workers' placement group (their CPUs
and GPUs) Ray removes when the connection that started the run ends: here, as the call returns,
unless this process was connected to Ray before; then Ray Train's own cleaner would remove it,
but that asks Ray's dashboard (`ray[default]`), and without one it waits for that connection.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from assetbook.atomic import atomic_path
from assetbook.errors import AssetbookError, StepTimeoutError
from assetbook.runners.training.fit import FitResult, TrainingJob, fit
from assetbook.runners.training.launch import TrainingError
from assetbook.runners.training.progress import ProgressFile, Report
from assetbook.runners.tuning import ray_session

POLL_S = 1.0  # how often the driver asks for new epoch lines and checks the deadline


def train_on_ray(job: TrainingJob, address: str | None, timeout_s: float | None = None,
                 what: str = "training", report: Report | None = None,
                 env: Mapping[str, str] | None = None) -> FitResult:
    """Fit `job` on `job.world_size` Ray Train workers of the cluster at `address` (None:
    $RAY_ADDRESS, or a local Ray started for the fit); the model file ends at `job.output`.

    `env` holds variables the workers need that their nodes may not have (an object store's
    endpoint and keys, an MLflow server); `report` receives rank 0's "epoch 3 of 10, val_loss
    0.4120" lines, about a second after each epoch ends. Past `timeout_s` the workers are
    stopped and `StepTimeoutError` names `what`; an Assetbook error of the fit (bad data, a
    model that rejects its hyperparameters) arrives as `TrainingError` with its message.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    job = replace(job, data=tuple(_absolute(path) for path in job.data))
    with ray_session(address), tempfile.TemporaryDirectory(prefix="assetbook-train-") as storage:
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        run = ray.remote(_Run).options(num_cpus=0, max_concurrency=4,
                                       scheduling_strategy=here).remote()
        try:
            outcome, last = _wait(run, run.fit.remote(job, dict(env or {}), storage), deadline,
                                  report)
        except ray.exceptions.RayError as exc:  # the run's actor or its node died
            raise TrainingError(f"the Ray Train run failed: {exc}") from exc
        finally:
            ray.kill(run)  # and with it Ray Train's controller and workers, if still running
    if outcome is None:
        raise StepTimeoutError(what, timeout_s or 0, "the Ray Train workers are stopped; "
                               + (f"last progress: {last}" if last else "no epoch had ended"))
    if "error" in outcome:
        raise TrainingError(outcome["error"])
    if job.output:
        with atomic_path(Path(job.output)) as tmp:
            tmp.write_bytes(outcome["model"])
    return FitResult(**outcome["result"])


def _absolute(path: str) -> str:
    """A local path made absolute (a Ray Train worker runs in a directory of Ray's); URLs as
    they are."""
    return path if "://" in path else os.path.abspath(path)


def _wait(run: Any, pending: Any, deadline: float | None, report: Report | None
          ) -> tuple[dict[str, Any] | None, str | None]:
    """The run's outcome (None past `deadline`) and its last epoch line, reporting each line
    as it arrives."""
    import ray

    seen: list[str] = []
    while True:
        left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
        done, _ = ray.wait([pending], timeout=max(left, 0))
        lines = ray.get(run.progress.remote(len(seen)))
        seen += lines
        for line in lines if report else ():
            report(line)
        if done:
            return ray.get(pending), seen[-1] if seen else None
        if deadline is not None and time.monotonic() >= deadline:
            return None, seen[-1] if seen else None


class _Run:
    """One Ray Train run, in an actor (threaded: rank 0 adds epoch lines and the driver reads
    them while `fit` waits for Ray Train)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add_progress(self, line: str) -> None:
        self.lines.append(line)

    def progress(self, since: int) -> list[str]:
        return self.lines[since:]

    def fit(self, job: TrainingJob, env: dict[str, str], storage: str) -> dict[str, Any]:
        """Rank 0's result and model file bytes, or the error a user should see."""
        import ray
        from ray.train import RunConfig, ScalingConfig, TrainingFailedError
        from ray.train.torch import TorchTrainer

        trainer = TorchTrainer(
            _train_loop,
            train_loop_config={"job": job, "run": ray.get_runtime_context().current_actor},
            scaling_config=ScalingConfig(num_workers=job.world_size,
                                         use_gpu=job.trainer.accelerator == "gpu"),
            run_config=RunConfig(name=f"training-{uuid.uuid4().hex[:8]}", storage_path=storage,
                                 worker_runtime_env={"env_vars": env} if env else None),
        )
        try:
            result = trainer.fit()
        except TrainingFailedError as exc:
            return {"error": _message(exc)}
        if not result.return_value:  # Ray Train V1 (RAY_TRAIN_V2_ENABLED=0) returns nothing
            return {"error": "rank 0 returned no result: training on Ray needs Ray Train V2"}
        return result.return_value


class _UserError(AssetbookError):
    """A rank's Assetbook error, by its message alone: it reaches the driver pickled, which an
    error class with its own constructor arguments may not survive."""


def _message(error: Exception) -> str:
    """The message of a rank's Assetbook error, or Ray's account of the failure."""
    failures = getattr(error, "worker_failures", {})  # WorkerGroupError: the ranks' own errors
    for failure in failures.values():
        if isinstance(failure, _UserError):
            return str(failure)
    return f"the Ray Train run failed: {error}"


def _train_loop(config: dict[str, Any]) -> dict[str, Any] | None:
    """One rank: the fit, with Ray's strategy and cluster environment. Rank 0 writes the model
    file and its epoch lines in a folder of its own node, and hands both to the driver."""
    import ray
    import ray.train

    job: TrainingJob = config["job"]
    # In the run's working directory, which Ray Train makes on each node in Ray's session
    # folder: a rank killed on a timeout leaves its scratch there, with the run's own files.
    with tempfile.TemporaryDirectory(prefix="assetbook-rank-", dir=os.getcwd()) as scratch:
        rank_job = replace(job, output=str(Path(scratch, "model.pt")) if job.output else None,
                           progress=str(Path(scratch, "progress")))
        lines = ProgressFile(Path(scratch, "progress"),
                             lambda line: ray.get(config["run"].add_progress.remote(line)))
        try:
            result = fit(rank_job, callbacks=_ray_callbacks(lines), placement=_placement())
        except AssetbookError as exc:
            raise _UserError(str(exc)) from exc
        lines.poll()
        if ray.train.get_context().get_world_rank() != 0:
            return None
        model = Path(rank_job.output).read_bytes() if rank_job.output else None
    return {"result": asdict(result), "model": model}


def _placement() -> dict[str, Any]:
    """Trainer arguments for a rank that Ray Train started: one device, rank and world size
    from Ray's context (which the data module's batches read through the Trainer)."""
    import pytorch_lightning as pl
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment

    strategy = RayDDPStrategy()
    if not isinstance(strategy, pl.strategies.Strategy):
        raise _UserError("ray.train.lightning is built on the `lightning` package installed "
                         "here, whose classes pytorch_lightning's Trainer refuses: uninstall "
                         "`lightning` to train on Ray")
    return {"devices": "auto", "num_nodes": 1, "strategy": strategy,
            "plugins": [RayLightningEnvironment()]}


def _ray_callbacks(lines: ProgressFile) -> tuple[Any, ...]:
    import pytorch_lightning as pl
    from ray.train.lightning import prepare_trainer

    class RayRank(pl.Callback):
        """Ray's checks of the Trainer as the fit starts; rank 0's epoch line, written as
        validation ended, forwarded as the epoch ends."""

        def setup(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> None:
            prepare_trainer(trainer)

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            lines.poll()

    return (RayRank(),)
