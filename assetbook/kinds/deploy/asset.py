"""Builder of `deploy` assets: the bento served behind nginx on 127.0.0.1, switched
blue/green once the new server answers the probe."""

import json
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext
from assetbook.graph.outputs import versioned_output
from assetbook.graph.serving import deployer
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.resources.state import UNPARTITIONED
from assetbook.spec.loader import DeclaredAsset


def build_deploy_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, DeployAssetSpec)
    (bento_input,) = spec.inputs

    @dg.asset(**ctx.asset_kwargs(declared, None, []), kinds={"bentoml", "nginx"})
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        bento = json.loads(inputs[bento_input][UNPARTITIONED].read_text())
        target = deployer(ctx.state, spec)
        endpoint = target.deploy(bento["bento"], bento["model_version"])
        record = {"url": target.url, "bento": endpoint.bento,
                  "model_version": endpoint.model_version, "upstream_port": endpoint.port}
        yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: record}, {
            "url": dg.MetadataValue.url(target.url), "bento": endpoint.bento,
            "model_version": endpoint.model_version, "upstream_port": endpoint.port})

    return compute

