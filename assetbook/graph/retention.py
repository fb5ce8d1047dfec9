"""Retention: reclaim the space of kept data versions nothing needs, on command (`assetbook
gc`) or on a schedule (the `assetbook_gc` schedule, off until switched on in the UI).

A kept version stays if it is a partition's latest, one of its `keep` newest, or read by any
version of a registered model (its training data or its held-out days, as its lineage
manifest names them), so `assetbook reproduce` and `load(..., version=...)` keep working for
every model in the registry.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.defaults import DEFAULT_KEEP
from assetbook.graph.context import BuildContext
from assetbook.graph.lineage import EVALUATION, LINEAGE_FOLDER, MANIFEST
from assetbook.graph.training import registered_names
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.state import StateFolder
from assetbook.resources.store import store_path
from assetbook.resources.tracking import MlflowTracking
from assetbook.resources.versions import VERSIONS_FOLDER, content_version
from assetbook.spec.loader import ProjectSpec

GC_JOB = "assetbook_gc"


@dataclass(frozen=True)
class Reclaimed:
    removed: tuple[str, ...]  # asset/partition/version of each removed version
    kept: int
    bytes_freed: int


def referenced_versions(ctx: BuildContext, registry: MlflowTracking
                        ) -> set[tuple[str, str, str]]:
    """(asset, partition, version) of everything any registered model version read."""
    client = registry.client()
    names = registered_names(ctx)
    found: set[tuple[str, str, str]] = set()
    for name in names:
        for info in client.search_model_versions(f"name='{name}'"):
            for document in (MANIFEST, EVALUATION):
                manifest = registry.read_json(info.run_id, f"{LINEAGE_FOLDER}/{document}")
                for asset, by_key in (manifest or {}).get("data", {}).items():
                    found |= {(asset, key, version) for key, version in by_key.items()}
    return found


def collect(project: ProjectSpec, state: StateFolder, registry: MlflowTracking, keep: int,
            dry_run: bool = False) -> Reclaimed:
    """Remove every kept version that is not the latest, not among its partition's `keep`
    newest, and not referenced by a registered model version."""
    io = ArtifactIOManager(root=str(state.artifacts))
    referenced = referenced_versions(BuildContext(project, state), registry)
    removed, kept, freed = [], 0, 0
    for asset, key, versions in _partitions(io):
        latest = io.find(dg.AssetKey(asset), key)
        current = content_version(latest) if latest is not None else None
        newest = sorted(versions, key=lambda v: versions[v].stat().st_mtime)[-keep:] if keep \
            else []
        for version, path in versions.items():
            if version == current or version in newest or (asset, key, version) in referenced:
                kept += 1
                continue
            freed += path.stat().st_size
            removed.append(f"{asset}/{key}/{version}")
            if not dry_run:
                path.unlink()
    return Reclaimed(tuple(removed), kept, freed)


def _partitions(io: ArtifactIOManager) -> Iterator[tuple[str, str, dict[str, StorePath]]]:
    """(asset, partition, {version: path}) of every partition with kept versions."""
    root = store_path(io.root) / VERSIONS_FOLDER
    if not root.is_dir():
        return
    for asset_folder in sorted(root.iterdir()):
        for partition_folder in sorted(p for p in asset_folder.iterdir() if p.is_dir()):
            if versions := io.versions(dg.AssetKey(asset_folder.name), partition_folder.name):
                yield asset_folder.name, partition_folder.name, versions


class GcConfig(dg.Config):
    keep: int = DEFAULT_KEEP  # newest versions kept per partition besides the referenced


def build_gc_schedule(project: ProjectSpec, state: StateFolder) -> dg.ScheduleDefinition:
    """`assetbook gc` as a Dagster job, weekly once switched on (it deletes data, so it never
    starts on its own)."""

    @dg.op(name="remove_unreferenced_versions")
    def remove(context: dg.OpExecutionContext, config: GcConfig,
               mlflow: MlflowTracking) -> None:
        reclaimed = collect(project, state, mlflow, config.keep)
        context.log.info(f"removed {len(reclaimed.removed)} version(s), "
                         f"{reclaimed.bytes_freed / 1e6:.1f} MB; kept {reclaimed.kept}")

    @dg.job(name=GC_JOB, description="Removes kept data versions that no registered model "
            "read and that are neither a partition's latest nor among its newest.")
    def gc_job() -> None:
        remove()

    return dg.ScheduleDefinition(job=gc_job, cron_schedule="0 4 * * 0",
                                 default_status=dg.DefaultScheduleStatus.STOPPED)
