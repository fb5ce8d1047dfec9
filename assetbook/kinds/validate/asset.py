"""Builder of `validate` assets: the single input coerced to a schema, checked."""

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from assetbook.graph.context import PER_PARTITION, BuildContext, partition_keys
from assetbook.graph.outputs import emit
from assetbook.resources.store import read_frame
from assetbook.spec.loader import DeclaredAsset


def build_validate_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    """The single input, coerced to the first schema; withheld when a blocking check fails."""
    (upstream,) = declared.spec.inputs

    @dg.asset(**ctx.asset_kwargs(declared, None, []), backfill_policy=PER_PARTITION,
              kinds={"pandera"})
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        keys = partition_keys(context)
        by_partition = ctx.inputs_by_partition(declared, keys, inputs, context.instance)
        frames = {key: pd.concat([read_frame(p) for p in files[upstream]],
                                 ignore_index=True)
                  for key, files in by_partition.items()}
        yield from emit(ctx, context, declared, frames, {"validated_from": upstream},
                        store_validated=True)

    return compute
