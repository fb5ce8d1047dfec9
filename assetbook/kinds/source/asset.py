"""Builder of `source` assets: each partition read from a generator or a landed file."""

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from assetbook.data.landing import read_landed_file
from assetbook.graph.context import (
    PER_PARTITION,
    BuildContext,
    landing_folder,
    partition_keys,
)
from assetbook.graph.landed import record_source_versions
from assetbook.graph.outputs import emit
from assetbook.kinds.source import SourceAssetSpec
from assetbook.runners.simulator import load_generator
from assetbook.spec.loader import DeclaredAsset
from assetbook.spec.models import GeneratorSourceSpec


def build_source_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, SourceAssetSpec)
    source = spec.source
    if isinstance(source, GeneratorSourceSpec):
        read, origin, module = load_generator(source), source.generator, source.generator.split(
            ":")[0]
        folder = None
    else:
        folder = landing_folder(ctx, declared.name, source)

        def read(key: str) -> pd.DataFrame:
            return read_landed_file(folder, key, source.formats)

        origin, module = str(folder), "assetbook.data.landing"

    @dg.asset(**ctx.asset_kwargs(declared, None, [module]), backfill_policy=PER_PARTITION,
              kinds={"pandas"})
    def compute(context: AssetExecutionContext):
        ctx.start_kernel_below(declared.name, context)  # e.g. the features notebook's
        keys = partition_keys(context)
        if folder is not None:  # hashed before reading: a file changed since is read again
            record_source_versions(context, folder, source.formats, keys)
        frames = {key: read(key) for key in keys}
        yield from emit(ctx, context, declared, frames, {"source": origin})

    return compute
