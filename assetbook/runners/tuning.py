"""Hyper-parameter search with Ray Tune: one single-device Lightning fit per trial, ASHA
stopping the weak ones early, Optuna (or random search) proposing the next.

`ray_address` (or $RAY_ADDRESS) joins an existing cluster; otherwise a local Ray starts with
this machine's CPUs and stops afterwards. The data is prepared once and shipped through
Ray's object store, so trials on other nodes need no shared disk. A `timeout_s` bounds the
whole search: Tune stops every trial when what is left of it runs out, and the search fails.

Ray's overhead is most of a small search's time (bench/bench_search.py): each trial process
imports Ray Tune, PyTorch and Lightning (~4 s of CPU) before its first epoch. So a trial
process that ends runs the next trial (`reuse_actors`), a local Ray starts as many trial
processes at once as it can run, and it does not prestart workers Tune's trials cannot use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assetbook.errors import AssetbookError, StepTimeoutError, plain_text
from assetbook.runners.model_signature import init_parameters
from assetbook.runners.training.data import Dataset
from assetbook.runners.training.fit import TrainingJob, fit, job_module, load_dataset
from assetbook.runners.training.progress import Report
from assetbook.runners.trial_tracking import trial_tracking
from assetbook.spec.models import ChoiceSpec, DimensionSpec, IntegerSpec, SearchSpec

LOOPBACK = "127.0.0.1"
NO_PRESTART = ("RAY_prestart_worker_first_driver", "0")  # see ray_session
NO_DEFAULT_LOGGERS = ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # see search
# ray.init points `breakpoint()` at Ray's debugger for as long as the process lives: kept to
# the session, or every process started after it (training, kernels, servers) inherits it
BREAKPOINT_HOOK = "PYTHONBREAKPOINT"
NO_LOCAL_AUTH = ("RAY_AUTH_MODE", "disabled")  # a private local Ray: no token to manage


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
    """Fail before any trial: every dimension samples, and the model takes each name, read
    from its source where it can be (model_signature.py), else from a module built."""
    try:
        sample = {name: d.sample() for name, d in sample_space(job.search.space).items()}
    except Exception as exc:  # Ray raises assorted errors for unsampleable domains
        raise SearchSpaceError(f"search space cannot be sampled: {exc}") from exc
    hyperparameters = {**job.training.hyperparameters, **sample}
    taken = init_parameters(job.training.model)
    if taken is None or "n_features" not in taken:
        job_module(replace(job.training, hyperparameters=hyperparameters), dataset)
    elif unknown := sorted(set(hyperparameters) - taken):
        raise SearchSpaceError(f"model '{job.training.model}' rejects hyperparameters "
                               f"{unknown}: its __init__ takes no {', '.join(unknown)}")


@contextmanager
def ray_session(address: str | None) -> Iterator[bool]:
    """Ray for the search; yields whether it is a local Ray started here (this machine's
    resources, fixed) rather than a cluster joined or a Ray this process had started."""
    import ray

    if ray.is_initialized():
        yield False
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    local: dict[str, Any] = {}
    if address is None:  # a private local Ray: on loopback, with no auth token to manage
        local = {"num_cpus": os.cpu_count(), "_node_ip_address": LOOPBACK}
    # A local Ray prestarts a worker per CPU for its first driver; Tune's trial actors, which
    # used to carry a runtime env, never used them and started their own, so the prestarted
    # ones only slowed Ray's start (~3 s of CPU). The raylet reads the setting from the
    # environment it starts with.
    with _environment_kept(BREAKPOINT_HOOK, NO_LOCAL_AUTH[0]):
        with _environment_kept(NO_PRESTART[0]):
            if address is None:
                os.environ.setdefault(*NO_LOCAL_AUTH)
                os.environ.setdefault(*NO_PRESTART)
            _init_ray(address, local)
        try:
            yield address is None
        finally:
            _stop_ray(started_here=address is None)


def _stop_ray(started_here: bool) -> None:
    """`ray.shutdown`, with a local Ray's autoscaler monitor killed first: Ray's stop sends it
    SIGTERM after stopping the GCS, and its handler, reporting to that GCS, waits until Ray
    kills it a second later (1.0 s of the 1.4 s stop). A fixed-size local Ray scales nothing."""
    import ray

    with suppress(Exception):  # a private API of Ray's: without it, the stop is 1 s slower
        node = ray._private.worker._global_node if started_here else None
        if node is not None:
            node.kill_monitor(check_alive=False)
    ray.shutdown()


def _init_ray(address: str | None, local: dict[str, Any], attempts: int = 3) -> None:
    """`ray.init`, again when a local Ray's start times out: Ray 2.60's raylet gives its
    dashboard agent a fixed 15 s to start and exits after, and a busy machine's agent imports
    for longer (60 s seen on 2 cores at load 15). What the failed start left running is
    stopped before the next."""
    import psutil
    import ray

    for attempt in range(1, attempts + 1):
        before = {child.pid for child in psutil.Process().children()}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, **local)
            return
        except Exception as exc:
            if address is not None or "timed out during startup" not in str(exc) \
                    or attempt == attempts:
                raise
            ray.shutdown()
            for child in psutil.Process().children():
                if child.pid not in before:
                    for process in (*child.children(recursive=True), child):
                        with suppress(psutil.NoSuchProcess):
                            process.kill()


def trials_at_once(spec: SearchSpec) -> int:
    """How many trials the Ray this process is connected to has room for at once."""
    import ray

    resources = ray.cluster_resources()
    room = resources.get("CPU", 0) // spec.cpus_per_trial
    if spec.gpus_per_trial:
        room = min(room, resources.get("GPU", 0) // spec.gpus_per_trial)
    return max(1, int(room))


@contextmanager
def _trials_without_a_runtime_env() -> Iterator[None]:
    """Tune gives each trial actor a runtime env holding PL_DISABLE_FORK, which Lightning has
    ignored since 1.8, and any runtime env sends a trial process's start through Ray's
    runtime-env agent: two trial processes took 2.7 s to start on 2 cores, 1.5 s without.
    Tune's default (private) is emptied meanwhile; one search at a time in a process."""
    try:
        from ray.tune.execution.class_cache import DEFAULT_ENV_VARS
    except ImportError:  # moved in a later Ray: trials start as Tune has them start
        DEFAULT_ENV_VARS = {}
    saved = dict(DEFAULT_ENV_VARS)
    DEFAULT_ENV_VARS.clear()
    try:
        yield
    finally:
        DEFAULT_ENV_VARS.update(saved)


@contextmanager
def _environment_kept(*names: str) -> Iterator[None]:
    """Settings of os.environ meant for one call (Ray's raylet's start, Tune's run, a Ray
    session) only: later subprocesses of this process must not inherit them."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    # Tune's results (progress.csv, result.json), which its ResultGrid reads back, without its
    # TensorBoard files: nothing reads those, and their writer imports PyTorch (~1.5 s) into a
    # driver that otherwise never needs it (the trials are MLflow runs).
    callbacks = [CSVLoggerCallback(), JsonLoggerCallback()]
    if report:
        callbacks.append(_trial_progress(report, spec))
    if job.mlflow_experiment:
        callbacks.append(trial_tracking(job.training.mlflow_tracking_uri, job.mlflow_experiment,
                                        job.mlflow_tags or {}))
    with ray_session(job.ray_address) as local:
        budget = None if deadline is None else max(deadline - time.monotonic(), 1e-3)  # 0: none
        # Unlimited, Tune keeps one trial pending for a searcher such as Optuna: the trials'
        # processes start one after the other (the second ~3.5 s after the first on 2 CPUs).
        # Limited to what a local Ray has room for anyway, as many start at once, and the
        # searcher proposes a trial when one can run. A cluster's room may grow: no limit.
        concurrent = spec.max_concurrent_trials or (trials_at_once(spec) if local else None)
        trainable = tune.with_resources(
            tune.with_parameters(_trial, job=job.training, dataset=dataset, metric=spec.metric),
            {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
        tuner = tune.Tuner(
            trainable, param_space=sample_space(spec.space),
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                max_concurrent_trials=concurrent, search_alg=algorithm,
                scheduler=scheduler, time_budget_s=budget,
                # a trial process that ends (ASHA stopped it, or it finished) runs the next
                # trial instead of a new process importing Tune, PyTorch and Lightning again;
                # each fit seeds itself and builds its module, so nothing else carries over
                reuse_actors=True),
            run_config=tune.RunConfig(name=job.name, storage_path=str(job.storage_path),
                                      callbacks=callbacks, verbose=0),
        )
        with _environment_kept(NO_DEFAULT_LOGGERS[0]), _trials_without_a_runtime_env():
            # Tune reads NO_DEFAULT_LOGGERS as fit() starts
            os.environ[NO_DEFAULT_LOGGERS[0]] = NO_DEFAULT_LOGGERS[1]
            results = tuner.fit()
        if deadline is not None and time.monotonic() >= deadline:
            epochs = sum(r.metrics.get("training_iteration", 0) for r in results)
            raise StepTimeoutError(f"search '{job.name}'", job.timeout_s, (
                f"Tune stopped its trials ({len(results)} of {spec.num_samples} had started, "
                f"{epochs} epochs in all)"))
        cluster = ray.get_runtime_context().gcs_address
        errors = [_trial_error(r.error) if r.error else None for r in results]
        if errors and all(errors):
            raise AssetbookError(f"every trial failed; first error: {errors[0]}")
        best = results.get_best_result(spec.metric, spec.mode)
        trials = [
            {"trial": Path(r.path).name, **{f"config.{k}": v for k, v in r.config.items()},
             spec.metric: r.metrics.get(spec.metric),
             "epochs": r.metrics.get("training_iteration", 0),
             "stopped_early": r.metrics.get("training_iteration", 0) < max_epochs,
             "error": error}
            for r, error in zip(results, errors, strict=True)
        ]
    return TuneResult(dict(best.config), float(best.metrics[spec.metric]), trials, cluster)


def _trial_error(error: BaseException) -> str:
    """A trial's error as a user reads it: Ray wraps the cause in its own traceback, coloured
    for a terminal; the cause comes first, then the traceback, without the colour codes."""
    text = plain_text(str(error)).strip()
    cause = text.splitlines()[-1] if text else type(error).__name__
    return cause if cause == text else f"{cause}\n{text}"
