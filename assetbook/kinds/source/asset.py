"""Builder of `source` assets: each partition read from a generator, a landed file, or the
served model's recorded predictions."""

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from assetbook.data.landing import read_landed_file
from assetbook.data.served import served_day
from assetbook.errors import SpecError
from assetbook.graph.context import (
    PER_PARTITION,
    BuildContext,
    partition_keys,
)
from assetbook.graph.landed import record_source_versions
from assetbook.graph.outputs import emit
from assetbook.kinds.source import SourceAssetSpec
from assetbook.kinds.source.landing import landing_folder
from assetbook.runners.serving.environments import deployment_named, served_predictions
from assetbook.runners.simulator import load_generator
from assetbook.spec.loader import DeclaredAsset
from assetbook.spec.models import GeneratorSourceSpec, ServedSourceSpec


def build_source_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, SourceAssetSpec)
    source = spec.source
    if isinstance(source, GeneratorSourceSpec):
        read, origin, module = load_generator(source), source.generator, source.generator.split(
            ":")[0]
        folder = None
    elif isinstance(source, ServedSourceSpec):
        if not isinstance(ctx.partitions_def(declared.name), dg.DailyPartitionsDefinition):
            raise SpecError(str(declared.file.name), "a `served` source is partitioned by day: "
                            "give it daily partitions", asset=declared.name, field="partitions")
        served = (ctx.project.root / source.folder if source.folder else served_predictions(
            ctx.state, deployment_named(ctx.project, source.deployment).name))

        def read(key: str) -> pd.DataFrame:
            return served_day(served, key, source.records)

        origin, module, folder = str(served), "assetbook.data.served", None
    else:
        folder = landing_folder(ctx.project, ctx.state, declared.name, source)

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
