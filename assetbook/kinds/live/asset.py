"""Builder of `live` assets: a day of the served model's recorded answers joined with the
labels that arrived for it (assetbook/runners/live.py), stored as one row per model version,
with a check against the spec's thresholds. The check does not block (nothing below reads
a day's performance); it is what `automation.on_failed_checks` of a search or a training
listens to, as it does for drift."""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext, partition_keys
from assetbook.graph.outputs import versioned_output
from assetbook.kinds.live import LiveAssetSpec, served_inputs
from assetbook.resources.store import read_frame
from assetbook.runners.gate import thresholds
from assetbook.runners.live import joined, performance
from assetbook.spec.loader import DeclaredAsset

LIVE_CHECK = "live_thresholds"
ERROR_RATE = "error_rate"


def build_live_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, LiveAssetSpec)
    (predictions,) = served_inputs(ctx.project, declared, "answers")
    refusals = next(iter(served_inputs(ctx.project, declared, "refusals")), None)
    (labels,) = (name for name in spec.inputs if name not in (predictions, refusals))
    kwargs = ctx.asset_kwargs(declared, None, ["assetbook.runners.live"])
    kwargs["check_specs"] = [*kwargs["check_specs"], dg.AssetCheckSpec(
        LIVE_CHECK, asset=declared.name, blocking=False,
        description="each model version's live metrics within the spec's min and max")]

    @dg.asset(**kwargs, kinds={"pandas"})
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        tables = {key: performance(
            joined(read_frame(inputs[predictions][key]), read_frame(inputs[labels][key]),
                   spec.target), read_frame(inputs[refusals][key]) if refusals else None)
            for key in partition_keys(context)}
        rules = [(key, row["model_version"], rule) for key, table in tables.items()
                 for row in table.to_dict("records")
                 for rule in thresholds(row, *_judged(spec, row))]
        yield versioned_output(ctx, context, declared.name, tables, {
            "performance": dg.MetadataValue.md("\n\n".join(
                f"**{key}**\n\n{table.round(4).to_markdown(index=False)}"
                for key, table in tables.items()))})
        failed = [f"[{key}] v{version}: {rule.text}" for key, version, rule in rules
                  if not rule.passed]
        yield dg.AssetCheckResult(
            check_name=LIVE_CHECK, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(failed)[:2000] if failed else "; ".join(
                f"[{key}] v{version}: {rule.text}" for key, version, rule in rules) or
            "no thresholds")

    return compute


def _judged(spec: LiveAssetSpec, row: dict) -> tuple[dict[str, float], dict[str, float]]:
    """The bounds a version's day is held to: all of them once it has labelled rows; before
    that, only the error rate (its other metrics have no evidence yet)."""
    if row["labelled"]:
        return spec.minimum, spec.maximum
    return ({m: v for m, v in spec.minimum.items() if m == ERROR_RATE and m in row},
            {m: v for m, v in spec.maximum.items() if m == ERROR_RATE and m in row})


