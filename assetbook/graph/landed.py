"""Landed files against what the pipeline read of them: a corrected file is a changed day.

A landing source records the content version of the file each partition was read from
(`source_version`). A day whose file now has another version was corrected after it was read:
`assetbook run` and the landing sensor both run it again, and everything below it follows. A
file rewritten with the same bytes has the same version, so it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.data.landing import landed_files
from assetbook.resources.versions import content_version

SOURCE_VERSION = "source_version"  # metadata of a landed partition: its file's version


def recorded_source_versions(instance: dg.DagsterInstance, asset: str,
                             keys: Iterable[str]) -> dict[str, str | None]:
    """For each materialized key, the version of the file its latest materialization read
    (None if it recorded none)."""
    asset_key = dg.AssetKey(asset)
    done = instance.get_materialized_partitions(asset_key)
    recorded: dict[str, str | None] = {}
    for key in keys:
        if key not in done:
            continue
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1).records
        materialization = records[0].asset_materialization if records else None
        value = materialization.metadata.get(SOURCE_VERSION) if materialization else None
        recorded[key] = str(value.value) if value is not None else None
    return recorded


def corrected_days(instance: dg.DagsterInstance, asset: str,
                   files: Mapping[str, StorePath]) -> list[str]:
    """The materialized days whose landed file changed content since it was read."""
    recorded = recorded_source_versions(instance, asset, files)
    return sorted(key for key, version in recorded.items()
                  if version is not None and content_version(files[key]) != version)


def record_source_versions(context: dg.AssetExecutionContext, folder: StorePath,
                           formats: tuple[str, ...], keys: Sequence[str]) -> None:
    """Record, on each partition about to be read, the version of its landed file."""
    files = landed_files(folder, formats)
    for key in keys:
        if key in files:
            context.add_asset_metadata({SOURCE_VERSION: content_version(files[key])},
                                       partition_key=key)
