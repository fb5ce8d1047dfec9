"""What an asset hands Dagster: its partitions staged as files, each with its content version.

Every product (a frame, a dict, a file a notebook or trainer wrote) is staged as a local file
and versioned by its bytes before Dagster sees it. The version is the Dagster data version of
the materialization (the UI shows it; staleness follows it) and each partition's
`content_version` metadata; the IO manager stores the same bytes under it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
from dagster import AssetExecutionContext

from assetbook.atomic import atomic_path
from assetbook.graph.checks import CheckOutcome, run_schema_check
from assetbook.graph.context import BuildContext
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.versions import combined_version, content_version
from assetbook.spec.loader import DeclaredAsset

Product = pd.DataFrame | dict | Path
CONTENT_VERSION = "content_version"  # metadata of each partition: the version of its bytes


def versioned_output(ctx: BuildContext, context: AssetExecutionContext, asset: str,
                     products: Mapping[str, Product], metadata: Mapping[str, Any],
                     output_name: str = "result") -> dg.Output:
    """The output of `asset`: its products by partition key, staged and versioned."""
    staged = {key: _stage(ctx, context.run.run_id, asset, key, value)
              for key, value in products.items()}
    versions = {key: content_version(path) for key, path in staged.items()}
    for key, version in versions.items():
        if key != UNPARTITIONED:
            context.add_asset_metadata({CONTENT_VERSION: version}, asset_key=asset,
                                       partition_key=key)
    data_version = (next(iter(versions.values())) if len(versions) == 1
                    else combined_version(versions))
    unpartitioned = {CONTENT_VERSION: versions[UNPARTITIONED]} if UNPARTITIONED in versions else {}
    return dg.Output(staged, output_name=output_name, metadata={**metadata, **unpartitioned},
                     data_version=dg.DataVersion(data_version))


def emit(ctx: BuildContext, context: AssetExecutionContext, declared: DeclaredAsset,
         artifacts: Mapping[str, pd.DataFrame | Path], metadata: Mapping[str, Any],
         store_validated: bool = False) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Run the asset's checks on its product; store it only if no blocking check failed.

    With `store_validated`, the frames coerced by the first schema are stored instead. An
    output of a multi-asset (a notebook's `outputs`) is named by its asset.
    """
    frames = {key: value if isinstance(value, pd.DataFrame) else pd.read_parquet(value)
              for key, value in artifacts.items()} if declared.spec.checks else {}
    outcomes: list[CheckOutcome] = [run_schema_check(c, frames, declared.name)
                                    for c in declared.spec.checks]
    if not any(outcome.blocks for outcome in outcomes):
        stored = outcomes[0].frames if store_validated else dict(artifacts)
        yield versioned_output(ctx, context, declared.name, stored,
                               {**metadata, **table_metadata(stored)},
                               declared.name if declared.producer else "result")
    else:  # withheld: drop what the step staged, so nothing half-accepted is left behind
        for value in artifacts.values():
            if isinstance(value, Path):
                value.unlink(missing_ok=True)
    for outcome in outcomes:
        yield outcome.result


def table_metadata(artifacts: Mapping[str, pd.DataFrame | Path]) -> dict[str, Any]:
    """Row count and columns of stored frames, read from Parquet footers when staged."""
    rows, schema = 0, None
    for value in artifacts.values():
        if isinstance(value, pd.DataFrame):
            rows += len(value)
            schema = schema or {c: str(t) for c, t in value.dtypes.items()}
        elif value.suffix == ".parquet":
            parquet = pq.read_schema(value)
            rows += pq.read_metadata(value).num_rows
            schema = schema or {f.name: str(f.type) for f in parquet}
    if schema is None:
        return {}
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, kind) for name, kind in schema.items()]
        ),
    }


def _stage(ctx: BuildContext, run_id: str, asset: str, key: str, value: Product) -> Path:
    """A product as a local file: a frame as Parquet, a dict as JSON, a file as it is."""
    if isinstance(value, Path):
        return value
    suffix = ".parquet" if isinstance(value, pd.DataFrame) else ".json"
    path = ctx.staging_path(asset, run_id, key, suffix)
    with atomic_path(path) as tmp:
        if isinstance(value, pd.DataFrame):
            value.to_parquet(tmp, index=False)
        else:
            tmp.write_text(json.dumps(value, indent=2, default=str))
    return path
