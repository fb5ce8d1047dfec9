"""Builder of `evaluate` assets: a report notebook scoring the candidate and the current
champion (by MLflow alias) on the same held-out days, neither model trained on them."""

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext, input_of_kind
from assetbook.graph.lineage import EVALUATION, LINEAGE_FOLDER, read_versions
from assetbook.graph.outputs import versioned_output
from assetbook.graph.training import registered_name
from assetbook.kinds.evaluate import EvaluateAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.store import store_path
from assetbook.resources.tracking import CHAMPION, MlflowTracking
from assetbook.runners.notebook import NotebookRunner
from assetbook.spec.loader import DeclaredAsset


def latest_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event and event.asset_materialization, f"{asset} has never been materialized"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def evaluation_parameters(ctx: BuildContext, declared: DeclaredAsset,
                          inputs: Mapping[str, Mapping[str, Path]], instance: dg.DagsterInstance,
                          mlflow: MlflowTracking, output: Path, scratch: Path) -> dict[str, Any]:
    """What the report notebook is given: the candidate's model file and version, the current
    champion's (downloaded into `scratch`), the held-out days and where the metrics go;
    `assetbook notebook` injects the same."""
    spec = declared.spec
    assert isinstance(spec, EvaluateAssetSpec)
    model_input = input_of_kind(ctx, declared, "train")
    (data_input,) = [n for n in spec.inputs if n != model_input]
    name = registered_name(ctx, model_input)
    days = ctx.inputs_by_partition(declared, [UNPARTITIONED], inputs,
                                   instance)[UNPARTITIONED][data_input]
    champion_version = mlflow.alias_version(name, CHAMPION)
    return {
        "candidate": str(inputs[model_input][UNPARTITIONED]),
        "candidate_version": str(latest_metadata(instance, model_input)["model_version"]),
        "champion": (str(mlflow.download(name, champion_version, scratch))
                     if champion_version else None),
        "champion_version": champion_version,
        "days": [{"key": p.stem, "path": str(p)} for p in days],
        "output": str(output), "config": spec.config,
    }


def build_evaluate_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, EvaluateAssetSpec)
    model_input = input_of_kind(ctx, declared, "train")
    (data_input,) = [n for n in spec.inputs if n != model_input]
    notebook = ctx.project.root / spec.notebook
    runner = NotebookRunner(timeout_s=spec.timeout.total_seconds())

    @dg.asset(**ctx.asset_kwargs(declared, notebook, []), kinds={"jupyter", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        candidate = latest_metadata(context.instance, model_input)
        output = ctx.staging_path(declared.name, context.run.run_id, UNPARTITIONED, ".json")
        with tempfile.TemporaryDirectory() as scratch:
            parameters = evaluation_parameters(ctx, declared, inputs, context.instance, mlflow,
                                               output, Path(scratch))
            candidate_version, champion_version = (parameters["candidate_version"],
                                                   parameters["champion_version"])
            result = runner.run(
                notebook, parameters,
                ctx.state.report_path(declared.name, f"v{candidate_version}", ".ipynb"),
                ctx.project.root, f"asset '{declared.name}'",
                ctx.kernel_after(declared.name, context))
        report = json.loads(output.read_text())
        run_id = str(candidate["mlflow_run_id"])
        mlflow.log(run_id, metrics={f"heldout_{k}": v for k, v in report["candidate"].items()})
        held_out = read_versions({data_input: [store_path(d["path"]) for d in parameters["days"]]})
        mlflow.log_json(run_id, {"candidate_version": candidate_version, "data": held_out,
                                 "candidate": report["candidate"],
                                 "champion_version": champion_version,
                                 "champion": report["champion"]}, LINEAGE_FOLDER, EVALUATION)
        champion_metrics = report["champion"] or {}
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: output}, {
            **{f"candidate_{k}": v for k, v in report["candidate"].items()},
            **{f"champion_{k}": v for k, v in champion_metrics.items()},
            "held_out_days": ", ".join(report["days"]),
            "held_out_versions": dg.MetadataValue.json(held_out),
            "candidate_version": candidate_version,
            "champion_version": str(champion_version or "none"),
            "notebook": dg.MetadataValue.notebook(str(result.executed)),
            "report": dg.MetadataValue.path(str(result.html)),
        })

    return compute
