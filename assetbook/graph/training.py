"""What the model assets share: `tune` (Ray Tune -> best hyper-parameters, as JSON) and
`train` (a Lightning fit in its own process -> a model file, a new MLflow model version
carrying the alias `candidate`; see `assetbook/kinds/`).

Both read a window of partitions of their data input; with `lag: 1` the latest day stays
out of training, so the evaluation can score every model on days none of them saw.
"""

from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext

from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.kinds.train import TrainAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.runners.training.fit import FitResult, TrainingJob
from assetbook.runners.training.launch import train
from assetbook.runners.training.progress import Report
from assetbook.spec.loader import DeclaredAsset
from assetbook.spec.models import ModelAssetSpec

MLFLOW_KEY = "mlflow"


def run_tags(context: AssetExecutionContext, declared: DeclaredAsset, window: list[str]) -> dict:
    """What links an MLflow run back to Dagster: the run, the asset, the partitions read."""
    return {"dagster.run_id": context.run.run_id, "dagster.asset": declared.name,
            "dagster.pipeline": declared.pipeline,
            "dagster.partitions": ",".join(window)[:5000]}


def window_paths(ctx: BuildContext, declared: DeclaredAsset, data_input: str,
                      context: AssetExecutionContext,
                 inputs: dict[str, dict[str, Path]]) -> list[Path]:
    by_input = ctx.inputs_by_partition(declared, [UNPARTITIONED], inputs, context.instance)
    return by_input[UNPARTITIONED][data_input]


def training_job(spec: ModelAssetSpec, data: list[Path], **extra: Any) -> TrainingJob:
    return TrainingJob(model=spec.model, target=spec.target, data=tuple(map(str, data)),
                       task=spec.task, trainer=spec.trainer, **extra)


def fit_model(ctx: BuildContext, declared: DeclaredAsset, job: TrainingJob,
              report: Report) -> FitResult:
    """The fit of a train asset: on the profile's Ray cluster through Ray Train (its workers
    are the spec's devices x num_nodes), else in a process of its own on this machine."""
    assert isinstance(declared.spec, ModelAssetSpec)
    timeout_s, what = declared.spec.timeout.total_seconds(), f"asset '{declared.name}'"
    profile = ctx.state.profile
    if profile.ray:
        from assetbook.runners.training.on_ray import train_on_ray

        return train_on_ray(job, profile.ray, timeout_s, what, report, profile.environment)
    return train(job, workdir=ctx.state.root / "training" / declared.name, timeout_s=timeout_s,
                 what=what, report=report)


def trainer_params(spec: ModelAssetSpec, window: list[str]) -> dict[str, Any]:
    return {**{f"trainer.{k}": v for k, v in spec.trainer.model_dump().items()},
            "window.first": window[0] if window else None,
            "window.last": window[-1] if window else None, "window.days": len(window)}


def registered_name(ctx: BuildContext, train_asset: str) -> str:
    """The MLflow registered model a train asset's versions go to."""
    declared = ctx.project.assets[train_asset]
    assert isinstance(declared.spec, TrainAssetSpec)
    return declared.spec.register_as or declared.pipeline


def registered_names(ctx: BuildContext) -> list[str]:
    """Every registered model the project's train assets version, sorted."""
    return sorted({registered_name(ctx, d.name) for d in ctx.project.assets.values()
                   if d.spec.kind == "train"})


def chosen_model(ctx: BuildContext, model: str | None, how: str) -> str:
    """`model`, or the project's one registered model; `how` says how a caller names one
    (`--model`, `model='...'`)."""
    names = registered_names(ctx)
    if model is None and len(names) != 1:
        raise AssetbookError(f"name a model with {how}: {', '.join(names) or 'none'}")
    if model is not None and model not in names:
        raise AssetbookError(f"no registered model '{model}'; the project's: "
                             f"{', '.join(names) or 'none'}")
    return model or names[0]
