"""Hyper-parameter search with Ray Tune: one single-device Lightning fit per trial, ASHA
stopping the weak ones early, Optuna (or random search) proposing the next.

`ray_address` (or $RAY_ADDRESS) joins an existing cluster; otherwise a local Ray starts with
this machine's CPUs and stops afterwards. The data is prepared once and shipped through
Ray's object store, so trials on other nodes need no shared disk. A `timeout_s` bounds the
whole search: Tune stops every trial when what is left of it runs out, and the search fails.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assetbook.errors import AssetbookError, StepTimeoutError
from assetbook.runners.training.data import Dataset
from assetbook.runners.training.fit import TrainingJob, fit, job_module, load_dataset
from assetbook.runners.training.progress import Report
from assetbook.spec.models import ChoiceSpec, DimensionSpec, IntegerSpec, SearchSpec


class SearchSpaceError(AssetbookError):
    """The search space cannot be sampled or does not fit the model."""


@dataclass(frozen=True)
class TuneJob:
    training: TrainingJob  # the trial template: data, model, trainer, fixed hyperparameters
    search: SearchSpec
    name: str
    storage_path: Path
    ray_address: str | None = None
    mlflow_experiment: str | None = None
    mlflow_tags: dict[str, str] | None = None  # e.g. the parent run, the Dagster run
    timeout_s: float | None = None  # the whole search, data loading and Ray's start included


@dataclass(frozen=True)
class TuneResult:
    best_config: dict[str, Any]
    best_metric: float
    trials: list[dict[str, Any]]
    cluster: str  # the Ray GCS address the trials ran on

    @property
    def stopped_early(self) -> int:
        return sum(1 for t in self.trials if t["stopped_early"])

    @property
    def total_epochs(self) -> int:
        return sum(t["epochs"] for t in self.trials)


def sample_space(space: dict[str, DimensionSpec]) -> dict[str, Any]:
    from ray import tune

    def dimension(spec: DimensionSpec) -> Any:
        if isinstance(spec, ChoiceSpec):
            return tune.choice(spec.values)
        if isinstance(spec, IntegerSpec):
            return tune.randint(spec.low, spec.high)
        return (tune.loguniform if spec.type == "loguniform" else tune.uniform)(spec.low,
                                                                               spec.high)

    return {name: dimension(spec) for name, spec in space.items()}


def check_space(job: TuneJob, dataset: Dataset) -> None:
    """Fail before any trial: every dimension samples, and the model accepts a sample."""
    try:
        sample = {name: d.sample() for name, d in sample_space(job.search.space).items()}
    except Exception as exc:  # Ray raises assorted errors for unsampleable domains
        raise SearchSpaceError(f"search space cannot be sampled: {exc}") from exc
    job_module(replace(job.training, hyperparameters={**job.training.hyperparameters,
                                                      **sample}), dataset)


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    local = {}
    if address is None:  # a private local Ray: on loopback, with no auth token to manage
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        local = {"num_cpus": os.cpu_count(), "_node_ip_address": "127.0.0.1"}
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             configure_logging=False, **local)
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _environment_kept(name: str) -> Iterator[None]:
    """Ray's MLflow callback sets the tracking URI in os.environ; later subprocesses of this
    process must not inherit a store they were not given."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _trial(config: dict[str, Any], job: TrainingJob, dataset: Dataset, metric: str) -> None:
    from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback

    trial_job = replace(job, hyperparameters={**job.hyperparameters, **config}, output=None,
                        mlflow_run_id=None)
    report = TuneReportCheckpointCallback(metrics=[metric], save_checkpoints=False,
                                          on="validation_end")
    fit(trial_job, dataset, callbacks=(report,))


def _trial_progress(report: Report, spec: SearchSpec) -> Any:
    """A Tune callback that reports "trial 2 of 4 ended, best val_loss 0.4120" as trials end."""
    from ray import tune

    class TrialProgress(tune.Callback):
        def __init__(self, report: Report, spec: SearchSpec) -> None:  # no closure: pickled
            self.report: Report | None = report
            self.metric, self.mode, self.trials = spec.metric, spec.mode, spec.num_samples
            self.ended, self.best = 0, None

        def __getstate__(self) -> dict[str, Any]:
            """Tune pickles its callbacks with the experiment's state; a step's logger cannot
            be pickled, so a restored search reports nothing."""
            return {**self.__dict__, "report": None}

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any
                              ) -> None:
            self._ended(trial.last_result.get(self.metric))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._ended(None)

        def _ended(self, value: float | None) -> None:
            self.ended += 1
            if value is not None:
                better = min if self.mode == "min" else max
                self.best = value if self.best is None else better(self.best, value)
            line = f"trial {self.ended} of {self.trials} ended"
            if self.best is not None:
                line += f", best {self.metric} {self.best:.4f}"
            if self.report is not None:
                self.report(line)

    return TrialProgress(report, spec)


def search(job: TuneJob, report: Report | None = None) -> TuneResult:
    """The best configuration of the search; `report` receives a line as each trial ends."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    spec = job.search
    deadline = None if job.timeout_s is None else time.monotonic() + job.timeout_s
    dataset = load_dataset(job.training)
    check_space(job, dataset)
    max_epochs = job.training.trainer.max_epochs
    if spec.algorithm == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        algorithm: Any = OptunaSearch(seed=spec.seed)
    else:
        algorithm = BasicVariantGenerator(random_state=spec.seed)
    scheduler = spec.scheduler and ASHAScheduler(
        time_attr="training_iteration", max_t=max_epochs, grace_period=spec.scheduler.grace_period,
        reduction_factor=spec.scheduler.reduction_factor)
    callbacks = [_trial_progress(report, spec)] if report else []
    if job.mlflow_experiment:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        callbacks.append(MLflowLoggerCallback(
            tracking_uri=job.training.mlflow_tracking_uri, experiment_name=job.mlflow_experiment,
            tags=job.mlflow_tags or {}, save_artifact=False))
    with ray_session(job.ray_address), _environment_kept("MLFLOW_TRACKING_URI"):
        budget = None if deadline is None else max(deadline - time.monotonic(), 1e-3)  # 0: none
        trainable = tune.with_resources(
            tune.with_parameters(_trial, job=job.training, dataset=dataset, metric=spec.metric),
            {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
        tuner = tune.Tuner(
            trainable, param_space=sample_space(spec.space),
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                max_concurrent_trials=spec.max_concurrent_trials, search_alg=algorithm,
                scheduler=scheduler, time_budget_s=budget),
            run_config=tune.RunConfig(name=job.name, storage_path=str(job.storage_path),
                                      callbacks=callbacks, verbose=0),
        )
        results = tuner.fit()
        if deadline is not None and time.monotonic() >= deadline:
            epochs = sum(r.metrics.get("training_iteration", 0) for r in results)
            raise StepTimeoutError(f"search '{job.name}'", job.timeout_s, (
                f"Tune stopped its trials ({len(results)} of {spec.num_samples} had started, "
                f"{epochs} epochs in all)"))
        cluster = ray.get_runtime_context().gcs_address
        errors = [str(r.error) for r in results if r.error]
        if len(errors) == len(results):
            raise AssetbookError(f"every trial failed; first error: {errors[0]}")
        best = results.get_best_result(spec.metric, spec.mode)
        trials = [
            {"trial": Path(r.path).name, **{f"config.{k}": v for k, v in r.config.items()},
             spec.metric: r.metrics.get(spec.metric),
             "epochs": r.metrics.get("training_iteration", 0),
             "stopped_early": r.metrics.get("training_iteration", 0) < max_epochs,
             "error": str(r.error) if r.error else None}
            for r in results
        ]
    return TuneResult(dict(best.config), float(best.metrics[spec.metric]), trials, cluster)
