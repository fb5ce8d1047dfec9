"""`assetbook gc`: reclaim the space of kept versions nothing needs.

A kept version stays if it is a partition's latest, one of its `keep` newest, or read by any
version of a registered model (its training data or its held-out days, as its lineage
manifest names them), so `assetbook reproduce` and `load(..., version=...)` keep working for
every model in the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.cli.session import Session
from assetbook.graph.context import BuildContext
from assetbook.graph.lineage import EVALUATION, LINEAGE_FOLDER, MANIFEST
from assetbook.graph.training import registered_name
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.store import store_path
from assetbook.resources.tracking import MlflowTracking
from assetbook.resources.versions import VERSIONS_FOLDER, content_version


@dataclass(frozen=True)
class Reclaimed:
    removed: tuple[str, ...]  # asset/partition/version of each removed version
    kept: int
    bytes_freed: int


def referenced_versions(session: Session) -> set[tuple[str, str, str]]:
    """(asset, partition, version) of everything any registered model version read."""
    ctx = BuildContext(session.project, session.state)
    registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
    client = registry.client()
    names = {registered_name(ctx, d.name) for d in session.project.assets.values()
             if d.spec.kind == "train"}
    found: set[tuple[str, str, str]] = set()
    for name in names:
        for info in client.search_model_versions(f"name='{name}'"):
            for document in (MANIFEST, EVALUATION):
                manifest = registry.read_json(info.run_id, f"{LINEAGE_FOLDER}/{document}")
                for asset, by_key in (manifest or {}).get("data", {}).items():
                    found |= {(asset, key, version) for key, version in by_key.items()}
    return found


def collect(session: Session, keep: int, dry_run: bool = False) -> Reclaimed:
    """Remove every kept version that is not the latest, not among its partition's `keep`
    newest, and not referenced by a registered model version."""
    io = ArtifactIOManager(root=str(session.state.artifacts))
    referenced = referenced_versions(session)
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
