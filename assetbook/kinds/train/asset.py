"""Builder of `train` assets: a Lightning fit in its own process over a window of the data
input -> a model file and a new MLflow model version carrying the alias `candidate`."""

import json
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext
from assetbook.graph.lineage import (
    COMMIT_TAG,
    DATA_VERSION_TAG,
    LINEAGE_FOLDER,
    MANIFEST,
    read_versions,
    training_manifest,
)
from assetbook.graph.outputs import versioned_output
from assetbook.graph.training import (
    fit_model,
    registered_name,
    run_tags,
    trainer_params,
    training_job,
    window_paths,
)
from assetbook.kinds.train import TrainAssetSpec
from assetbook.kinds.tune import TuneAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import CANDIDATE, MlflowTracking
from assetbook.spec.loader import DeclaredAsset


def build_train_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, TrainAssetSpec)
    tuned = [n for n in spec.inputs if isinstance(ctx.project.assets[n].spec, TuneAssetSpec)]
    (data_input,) = [n for n in spec.inputs if n not in tuned]
    registered = registered_name(ctx, declared.name)

    @dg.asset(**ctx.asset_kwargs(declared, None, [spec.model_module]),
              kinds={"pytorch", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        ctx.start_kernel_below(declared.name, context)  # the evaluation's, while this trains
        data = window_paths(ctx, declared, data_input, context, inputs)
        window = [p.stem for p in data]
        hyperparameters = dict(spec.hyperparameters)
        for name in tuned:
            hyperparameters.update(json.loads(inputs[name][UNPARTITIONED].read_text())[
                "best_config"])
        output = ctx.staging_path(declared.name, context.run.run_id, UNPARTITIONED, ".pt")
        tags = run_tags(context, declared, window)
        read = read_versions({data_input: data, **{name: inputs[name].values()
                                                   for name in tuned}})
        manifest = training_manifest(context, ctx.project.root, declared.name, read,
                                     ctx.code_versions, hyperparameters=hyperparameters,
                                     trainer=spec.trainer.model_dump())
        lineage = {DATA_VERSION_TAG: manifest["data_version"],
                   COMMIT_TAG: manifest["commit"] or "unknown"}
        with mlflow.run(declared.pipeline, f"{declared.name} fit", {**tags, **lineage}
                        ) as run_id:
            mlflow.log(run_id, params=trainer_params(spec, window))
            mlflow.log_json(run_id, manifest, LINEAGE_FOLDER, MANIFEST)
            job = training_job(spec, data, hyperparameters=hyperparameters, output=str(output),
                               mlflow_tracking_uri=mlflow.tracking_uri, mlflow_run_id=run_id)
            result = fit_model(ctx, declared, job, report=context.log.info)
            mlflow.log(run_id, metrics={"wall_seconds": result.seconds,
                                        "samples_per_second": result.samples_per_second})
            source = mlflow.log_file(run_id, output, "model", "model.pt")
            version = mlflow.register(registered, run_id, source, CANDIDATE,
                                      {**tags, **lineage, "window": ",".join(window)})
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: output}, {
            **{k: round(v, 5) for k, v in result.metrics.items()},
            "hyperparameters": hyperparameters, "window": ", ".join(window),
            "epochs": result.epochs, "wall_seconds": round(result.seconds, 2),
            "devices": result.world_size, "train_rows": result.train_rows,
            "mlflow_run_id": run_id, "registered_model": registered,
            "model_version": version, "data_version": manifest["data_version"],
            "lineage": dg.MetadataValue.json(read)})

    return compute
