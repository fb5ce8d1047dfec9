"""What the deployments share with Dagster: the tag that records who promoted a run's version,
and the registered model a deployment serves (read through the asset graph)."""

from assetbook.graph.context import BuildContext, input_of_kind
from assetbook.graph.training import registered_name

APPROVED_BY_TAG = "assetbook/approved_by"  # who (or which rule) promoted a run's version


def served_model(ctx: BuildContext, deployment: str) -> str:
    """The registered model a deployment serves versions of: the one its champion promotes."""
    name = deployment
    while ctx.project.assets[name].spec.kind != "promote":
        (name,) = ctx.project.assets[name].spec.inputs
    return registered_name(ctx, input_of_kind(ctx, ctx.project.assets[name], "train"))
