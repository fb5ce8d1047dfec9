"""Builder of `package` assets: the champion packaged by BentoML with Assetbook's service."""

import json
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext
from assetbook.graph.lineage import DATA_VERSION_TAG
from assetbook.graph.outputs import versioned_output
from assetbook.kinds.package import PackageAssetSpec
from assetbook.kinds.package.servable import served_request
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.serving.environments import bentoml_home
from assetbook.runners.serving.packaging import BentoSource, PackagingError, package
from assetbook.spec.loader import DeclaredAsset


def _git_commit(root: Path) -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def build_package_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, PackageAssetSpec)
    (champion_input,) = spec.inputs
    source = BentoSource.of(ctx.project, declared.name)
    served = served_request(ctx.project, champion_input)

    @dg.asset(**ctx.asset_kwargs(declared, None, []), kinds={"bentoml"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        champion = json.loads(inputs[champion_input][UNPARTITIONED].read_text())
        name, version = champion["model"], str(champion["candidate"])
        info = mlflow.version_info(name, version)
        code_versions = {
            f"code_{asset}": event.asset_materialization.tags.get("dagster/code_version", "")
            for asset in (champion_input, *ctx.project.assets[champion_input].spec.inputs)
            if (event := context.instance.get_latest_materialization_event(dg.AssetKey(asset)))
        }
        labels = {"model_version": version, "mlflow_run_id": info.run_id,
                  "window": info.tags.get("window", "").replace(",", "_")[:60],
                  "git_commit": _git_commit(ctx.project.root),
                  "data_version": info.tags.get(DATA_VERSION_TAG, "unknown"), **code_versions}
        with tempfile.TemporaryDirectory() as scratch:
            model_file = mlflow.download(name, version, Path(scratch))
            if served is not None and (problem := served.problem(model_file)):
                # the transform changed since the gate checked it: the served bento stays
                raise PackagingError(f"{name} v{version} is {problem}")
            packaged = package(model_file, source, name, labels, bentoml_home(ctx.state))
        record = {"bento": packaged.bento, "model": packaged.model, "model_version": version,
                  "labels": labels}
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: record}, {
            "bento": packaged.bento, "bentoml_model": packaged.model, "model_version": version,
            "labels": labels})

    return compute
