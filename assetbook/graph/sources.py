"""Builders of the assets that bring data in (`source`) and hold it to a schema (`validate`)."""


from pathlib import Path

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from assetbook.data.landing import read_landed_file
from assetbook.graph.context import BuildContext, emit, partition_keys
from assetbook.runners.simulator import load_generator
from assetbook.spec import DeclaredAsset
from assetbook.spec.models import GeneratorSourceSpec, LandingSourceSpec, SourceAssetSpec

PER_PARTITION = dg.BackfillPolicy.multi_run(1)  # one bad day must not fail its neighbours


def landing_folder(ctx: BuildContext, asset: str, spec: LandingSourceSpec) -> Path:
    return (ctx.project.root / spec.folder).resolve() if spec.folder else ctx.state.landing(asset)


def build_source_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, SourceAssetSpec)
    source = spec.source
    if isinstance(source, GeneratorSourceSpec):
        read, origin, module = load_generator(source), source.generator, source.generator.split(
            ":")[0]
    else:
        folder = landing_folder(ctx, declared.name, source)

        def read(key: str) -> pd.DataFrame:
            return read_landed_file(folder, key, source.formats)

        origin, module = str(folder), "assetbook.data.landing"

    @dg.asset(**ctx.asset_kwargs(declared, None, [module]), backfill_policy=PER_PARTITION,
              kinds={"pandas"})
    def compute(context: AssetExecutionContext):
        frames = {key: read(key) for key in partition_keys(context)}
        yield from emit(declared, frames, {"source": origin})

    return compute


def build_validate_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    """The single input, coerced to the first schema; withheld when a blocking check fails."""
    (upstream,) = declared.spec.inputs

    @dg.asset(**ctx.asset_kwargs(declared, None, []), backfill_policy=PER_PARTITION,
              kinds={"pandera"})
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        keys = partition_keys(context)
        by_partition = ctx.inputs_by_partition(declared, keys, inputs, context.instance)
        frames = {key: pd.concat([pd.read_parquet(p) for p in files[upstream]],
                                 ignore_index=True)
                  for key, files in by_partition.items()}
        yield from emit(declared, frames, {"validated_from": upstream}, store_validated=True)

    return compute
