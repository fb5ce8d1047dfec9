"""Builders of the model assets: `tune` (Ray Tune -> best hyper-parameters, as JSON) and
`train` (a Lightning fit in its own process -> a model file, a new MLflow model version
carrying the alias `candidate`).

Both read a window of partitions of their data input; with `lag: 1` the latest day stays
out of training, so the evaluation can score every model on days none of them saw.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import CANDIDATE, MlflowTracking
from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.training.launch import train
from assetbook.runners.tuning import TuneJob, search
from assetbook.spec import DeclaredAsset
from assetbook.spec.models import ModelAssetSpec, TrainAssetSpec, TuneAssetSpec

MLFLOW_KEY = "mlflow"


def _model_module(spec: ModelAssetSpec) -> str:
    return spec.model.split(":")[0]


def _tags(context: AssetExecutionContext, declared: DeclaredAsset, window: list[str]) -> dict:
    """What links an MLflow run back to Dagster: the run, the asset, the partitions read."""
    return {"dagster.run_id": context.run.run_id, "dagster.asset": declared.name,
            "dagster.pipeline": declared.pipeline,
            "dagster.partitions": ",".join(window)[:5000]}


def _window(ctx: BuildContext, declared: DeclaredAsset, data_input: str,
            context: AssetExecutionContext, inputs: dict[str, dict[str, Path]]) -> list[Path]:
    by_input = ctx.inputs_by_partition(declared, [UNPARTITIONED], inputs, context.instance)
    return by_input[UNPARTITIONED][data_input]


def _job(spec: ModelAssetSpec, data: list[Path], **extra: Any) -> TrainingJob:
    return TrainingJob(model=spec.model, target=spec.target, data=tuple(map(str, data)),
                       task=spec.task, trainer=spec.trainer, **extra)


def _trainer_params(spec: ModelAssetSpec, window: list[str]) -> dict[str, Any]:
    return {**{f"trainer.{k}": v for k, v in spec.trainer.model_dump().items()},
            "window.first": window[0] if window else None,
            "window.last": window[-1] if window else None, "window.days": len(window)}


def build_tune_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, TuneAssetSpec)
    (data_input,) = spec.inputs

    @dg.asset(**ctx.asset_kwargs(declared, None, [_model_module(spec)]), kinds={"ray", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        data = _window(ctx, declared, data_input, context, inputs)
        window = [p.stem for p in data]
        tags = _tags(context, declared, window)
        with mlflow.run(declared.pipeline, f"{declared.name} search", tags) as run_id:
            mlflow.log(run_id, params={**_trainer_params(spec, window),
                                       "search": spec.search.model_dump_json()})
            result = search(TuneJob(
                training=_job(spec, data, mlflow_tracking_uri=mlflow.tracking_uri),
                search=spec.search, name=f"{declared.name}-{context.run.run_id[:8]}",
                storage_path=ctx.state.root / "ray_results", ray_address=spec.ray.address,
                mlflow_experiment=declared.pipeline,
                mlflow_tags={**tags, "mlflow.parentRunId": run_id}))
            mlflow.log(run_id, params={f"best.{k}": v for k, v in result.best_config.items()},
                       metrics={f"best_{spec.search.metric}": result.best_metric})
        best = {"best_config": result.best_config, "metric": spec.search.metric,
                "best_metric": result.best_metric, "trials": result.trials, "window": window,
                "mlflow_run_id": run_id}
        yield dg.Output({UNPARTITIONED: best}, metadata={
            "best_config": result.best_config, f"best_{spec.search.metric}": result.best_metric,
            "trials_stopped_early": result.stopped_early, "epochs_spent": result.total_epochs,
            "trials": dg.MetadataValue.md(_markdown_table(result.trials)),
            "mlflow_run_id": run_id, "window": ", ".join(window), "ray_cluster": result.cluster})

    return compute


def build_train_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, TrainAssetSpec)
    tuned = [n for n in spec.inputs if isinstance(ctx.project.assets[n].spec, TuneAssetSpec)]
    (data_input,) = [n for n in spec.inputs if n not in tuned]
    registered_name = spec.register_as or declared.pipeline

    @dg.asset(**ctx.asset_kwargs(declared, None, [_model_module(spec)]),
              kinds={"pytorch", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        data = _window(ctx, declared, data_input, context, inputs)
        window = [p.stem for p in data]
        hyperparameters = dict(spec.hyperparameters)
        for name in tuned:
            hyperparameters.update(json.loads(inputs[name][UNPARTITIONED].read_text())[
                "best_config"])
        output = ctx.staging_path(declared.name, context.run.run_id, UNPARTITIONED, ".pt")
        tags = _tags(context, declared, window)
        with mlflow.run(declared.pipeline, f"{declared.name} fit", tags) as run_id:
            mlflow.log(run_id, params=_trainer_params(spec, window))
            result = train(_job(spec, data, hyperparameters=hyperparameters, output=str(output),
                                mlflow_tracking_uri=mlflow.tracking_uri, mlflow_run_id=run_id),
                           workdir=ctx.state.root / "training" / declared.name)
            mlflow.log(run_id, metrics={"wall_seconds": result.seconds,
                                        "samples_per_second": result.samples_per_second})
            source = mlflow.log_file(run_id, output, "model", "model.pt")
            version = mlflow.register(registered_name, run_id, source, CANDIDATE,
                                      {**tags, "window": ",".join(window)})
        yield dg.Output({UNPARTITIONED: output}, metadata={
            **{k: round(v, 5) for k, v in result.metrics.items()},
            "hyperparameters": hyperparameters, "window": ", ".join(window),
            "epochs": result.epochs, "wall_seconds": round(result.seconds, 2),
            "devices": result.world_size, "train_rows": result.train_rows,
            "mlflow_run_id": run_id, "registered_model": registered_name,
            "model_version": version})

    return compute


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no trials"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values())
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
