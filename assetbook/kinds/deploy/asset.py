"""Builder of `deploy` assets: the bento served behind nginx on 127.0.0.1, switched
blue/green once the new server answers the probe.

The first deployment serves each bento as it comes. A later one (fed by a deployment)
serves what the one before it serves now, only when promoted: it has no automation, and its
runs carry who approved (`assetbook promote`) or the rule that did (the promotion sensor);
the registered model's alias named after the deployment follows.
"""

import json
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.outputs import versioned_output
from assetbook.graph.serving import APPROVED_BY_TAG, served_model
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.serving.deployment import Endpoint
from assetbook.runners.serving.environments import deployer, fed_by
from assetbook.spec.loader import DeclaredAsset


def build_deploy_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, DeployAssetSpec)
    (source,) = spec.inputs
    previous_environment = fed_by(ctx.project, declared.name)
    kwargs = ctx.asset_kwargs(declared, None, [])
    if previous_environment:
        kwargs["automation_condition"] = None  # promoted, never materialized by itself

    @dg.asset(**kwargs, kinds={"bentoml", "nginx"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        target = deployer(ctx.state, ctx.project, declared.name)
        if previous_environment is None:
            bento = json.loads(inputs[source][UNPARTITIONED].read_text())
            endpoint = target.deploy(bento["bento"], bento["model_version"])
        else:
            endpoint = _promote(ctx, declared.name, previous_environment,
                                context.run.tags.get(APPROVED_BY_TAG)
                                or f"Dagster run {context.run.run_id}", mlflow)
        record = {"url": target.url, "bento": endpoint.bento,
                  "model_version": endpoint.model_version, "upstream_port": endpoint.port,
                  "approved_by": endpoint.approved_by}
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: record}, {
            "url": dg.MetadataValue.url(target.url), "bento": endpoint.bento,
            "model_version": endpoint.model_version, "upstream_port": endpoint.port,
            **({"approved_by": endpoint.approved_by} if endpoint.approved_by else {})})

    return compute


def _promote(ctx: BuildContext, deployment: str, previous: str, approved_by: str,
             mlflow: MlflowTracking) -> Endpoint:
    """Serve here what `previous` serves now; the alias named `deployment` follows."""
    serving = deployer(ctx.state, ctx.project, previous).active()
    if serving is None:
        raise AssetbookError(f"nothing to promote to '{deployment}': '{previous}' serves "
                             "nothing yet")
    endpoint = deployer(ctx.state, ctx.project, deployment).deploy(
        serving.bento, serving.model_version, approved_by)
    mlflow.set_alias(served_model(ctx, deployment), deployment, endpoint.model_version)
    return endpoint
