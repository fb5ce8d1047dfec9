"""Builder of `tune` assets: a Ray Tune search over a window of the data input; the best
hyper-parameters stored as JSON, the search logged to MLflow (see assetbook/graph/training.py).
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext
from assetbook.graph.outputs import versioned_output
from assetbook.graph.training import (
    run_tags,
    trainer_params,
    training_job,
    window_paths,
)
from assetbook.kinds.tune import TuneAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.tuning import TuneJob, search
from assetbook.spec.loader import DeclaredAsset


def build_tune_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, TuneAssetSpec)
    (data_input,) = spec.inputs

    @dg.asset(**ctx.asset_kwargs(declared, None, [spec.model_module]), kinds={"ray", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        ctx.start_kernel_below(declared.name, context)
        data = window_paths(ctx, declared, data_input, context, inputs)
        window = [p.stem for p in data]
        tags = run_tags(context, declared, window)
        with mlflow.run(declared.pipeline, f"{declared.name} search", tags) as run_id:
            mlflow.log(run_id, params={**trainer_params(spec, window),
                                       "search": spec.search.model_dump_json()})
            result = search(TuneJob(
                training=training_job(spec, data, mlflow_tracking_uri=mlflow.tracking_uri),
                search=spec.search, name=f"{declared.name}-{context.run.run_id[:8]}",
                storage_path=ctx.state.root / "ray_results",
                ray_address=ctx.state.profile.ray or spec.ray.address,
                mlflow_experiment=declared.pipeline,
                mlflow_tags={**tags, "mlflow.parentRunId": run_id},
                timeout_s=spec.timeout.total_seconds()), report=context.log.info)
            mlflow.log(run_id, params={f"best.{k}": v for k, v in result.best_config.items()},
                       metrics={f"best_{spec.search.metric}": result.best_metric})
        best = {"best_config": result.best_config, "metric": spec.search.metric,
                "best_metric": result.best_metric, "trials": result.trials, "window": window,
                "mlflow_run_id": run_id}
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: best}, {
            "best_config": result.best_config, f"best_{spec.search.metric}": result.best_metric,
            "trials_stopped_early": result.stopped_early, "epochs_spent": result.total_epochs,
            "trials": dg.MetadataValue.md(_markdown_table(result.trials)),
            "mlflow_run_id": run_id, "window": ", ".join(window), "ray_cluster": result.cluster})

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
