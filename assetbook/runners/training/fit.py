"""One Lightning fit, in the current process: the code path of every rank and every trial."""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assetbook.runners.training.data import Dataset, prepare, read_frames
from assetbook.runners.training.progress import epoch_callback
from assetbook.serving.model_file import ModelFile, build_module
from assetbook.spec.models import TrainerSpec


@dataclass(frozen=True)
class TrainingJob:
    """Everything a fit needs, as JSON-able data (it crosses into a subprocess)."""

    model: str
    target: str
    data: tuple[str, ...]
    trainer: TrainerSpec
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    output: str | None = None  # where rank 0 writes the model file
    mlflow_tracking_uri: str | None = None
    mlflow_run_id: str | None = None
    task: str = "auto"  # binary, multiclass, regression, or inferred from the target
    progress: str | None = None  # where rank 0 writes "epoch i of n" as it goes
    metrics: str | None = None  # where rank 0 appends what it logs (instead of to MLflow)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "trainer": self.trainer.model_dump(),
                           "data": list(self.data)})

    @classmethod
    def from_json(cls, text: str) -> TrainingJob:
        raw = json.loads(text)
        return cls(**{**raw, "trainer": TrainerSpec(**raw["trainer"]),
                      "data": tuple(raw["data"])})

    @property
    def world_size(self) -> int:
        return self.trainer.devices * self.trainer.num_nodes


@dataclass(frozen=True)
class FitResult:
    metrics: dict[str, float]
    epochs: int
    seconds: float
    world_size: int
    train_rows: int
    samples_per_second: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def load_dataset(job: TrainingJob) -> Dataset:
    return prepare(read_frames(job.data), job.target, job.trainer.validation_fraction,
                   job.trainer.seed, job.task)


def job_module(job: TrainingJob, dataset: Dataset) -> Any:
    """The job's model, shaped for the dataset's features and target."""
    return build_module(job.model, dataset.n_features, dataset.target, job.hyperparameters)


def fit(job: TrainingJob, dataset: Dataset | None = None, callbacks: tuple = (),
        placement: Mapping[str, Any] | None = None) -> FitResult:
    """Fit `job` in this process, which is one rank. `placement` is for a launcher that placed
    the ranks itself (Ray Train): Trainer arguments (devices, num_nodes, strategy, plugins)
    instead of the spec's devices and nodes, which Lightning's own launcher would start."""
    import pytorch_lightning as pl

    from assetbook.runners.training.batches import TensorData  # torch: not at import

    pl.seed_everything(job.trainer.seed, workers=True, verbose=False)
    dataset = dataset or load_dataset(job)
    module = job_module(job, dataset)
    batch = max(1, job.trainer.batch_size // job.world_size)  # same global batch on N devices
    strategy = job.trainer.strategy
    if strategy == "auto" and job.world_size > 1:
        strategy = "ddp"
    placement = placement or {"devices": job.trainer.devices, "num_nodes": job.trainer.num_nodes,
                              "strategy": strategy}
    loggers = []
    if job.metrics:
        from assetbook.runners.training.metrics import file_logger

        loggers.append(file_logger(Path(job.metrics)))
    elif job.mlflow_run_id:
        loggers.append(pl.loggers.MLFlowLogger(tracking_uri=job.mlflow_tracking_uri,
                                               run_id=job.mlflow_run_id))
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        # Lightning's advice for a fit of fewer batches than its per-step logging interval:
        # the loggers here get the epochs' metrics, which it does not concern
        warnings.filterwarnings("ignore", ".*smaller than the logging interval")
        # and its notice that a module's own batch transfer hook is used although a data
        # module is given: the data module is Assetbook's, the hook the user's to keep
        warnings.filterwarnings("ignore", ".*in `LightningModule` but have passed in a")
        # and PyTorch's deprecation of the pytree class Lightning's loaders still build: theirs
        warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)", FutureWarning)
        trainer = pl.Trainer(
            max_epochs=job.trainer.max_epochs, accelerator=job.trainer.accelerator,
            **placement,
            precision=job.trainer.precision, logger=loggers or False,
            callbacks=[*callbacks, *([epoch_callback(Path(job.progress))] if job.progress
                                     else [])],
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            deterministic=True, default_root_dir=scratch,
            use_distributed_sampler=False,  # the batches shard themselves (batches.py)
        )
        started = time.perf_counter()
        trainer.fit(module, datamodule=TensorData(dataset, batch, job.trainer.seed))
        seconds = time.perf_counter() - started
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if job.output and trainer.is_global_zero:
        ModelFile(job.model, job.hyperparameters, dataset.preprocessing, dataset.target,
                  metrics).save(Path(job.output), module.state_dict())
    epochs = trainer.current_epoch
    rows = len(dataset.x_train)
    return FitResult(metrics, epochs, seconds, trainer.world_size, rows,
                     rows * epochs / seconds if seconds else 0.0)
