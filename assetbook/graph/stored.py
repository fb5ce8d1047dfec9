"""What the pipeline has stored: the partitions Dagster recorded as materialized, and the files
the artifact IO manager keeps for them.

`load` and `assetbook notebook` read through this, not through paths of their own, so they see
exactly what the pipeline's steps are given: a file is found by the IO manager's `find`, the
method its `load_input` uses.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.errors import ArtifactError, AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.state import UNPARTITIONED
from assetbook.spec.loader import DeclaredAsset


@dataclass(frozen=True)
class StoredAssets:
    ctx: BuildContext
    instance: dg.DagsterInstance

    @property
    def io(self) -> ArtifactIOManager:
        """The IO manager the project's definitions use (see `build_definitions`)."""
        return ArtifactIOManager(root=str(self.ctx.state.artifacts))

    def declared(self, asset: str) -> DeclaredAsset:
        """The asset's spec; an unknown name fails with the closest names and all of them."""
        assets = self.ctx.project.assets
        if asset in assets:
            return assets[asset]
        if asset in self.ctx.project.steps:
            outputs = ", ".join(d.name for d in self.ctx.project.written_by(asset))
            raise AssetbookError(f"'{asset}' is a notebook that writes several assets; name "
                                 f"one of them: {outputs}")
        hint = difflib.get_close_matches(asset, list(assets), n=1)
        raise AssetbookError(f"no asset '{asset}' in {self.ctx.project.root}"
                             + (f"; did you mean '{hint[0]}'?" if hint else "")
                             + f" The assets: {', '.join(sorted(assets))}")

    def partition_keys(self, asset: str) -> list[str]:
        """Every partition key the asset has, materialized or not, in key order."""
        partitions_def = self.ctx.partitions_def(asset)
        if partitions_def is None:
            return [UNPARTITIONED]
        return sorted(partitions_def.get_partition_keys(dynamic_partitions_store=self.instance))

    def materialized(self, asset: str) -> list[str]:
        """The keys Dagster recorded as materialized, in key order (`[UNPARTITIONED]` for an
        unpartitioned asset materialized at least once)."""
        key = dg.AssetKey(asset)
        if self.ctx.partitions_def(asset) is None:
            return [UNPARTITIONED] if self.instance.get_latest_materialization_event(key) else []
        return sorted(self.instance.get_materialized_partitions(key))

    def path(self, asset: str, key: str) -> Path:
        """The file the IO manager keeps for a materialized partition."""
        path = self.io.find(dg.AssetKey(asset), key)
        if path is None:
            folder = self.io.path_for(dg.AssetKey(asset), key, "").parent
            raise ArtifactError(f"'{asset}' ({key}) is recorded as materialized, but {folder} "
                                "holds no file for it: was the state folder moved or cleaned? "
                                "Materialize it again")
        return path

    def version_path(self, asset: str, key: str, version: str) -> StorePath:
        """The file of one kept version of a partition; an unknown one fails with those kept."""
        kept = self.io.versions(dg.AssetKey(asset), key)
        if version not in kept:
            raise ArtifactError(f"'{asset}' ({key}) has no kept version '{version}'; kept: "
                                f"{', '.join(kept) or 'none'}")
        return kept[version]

    def inputs(self, declared: DeclaredAsset) -> dict[str, dict[str, Path]]:
        """What the IO manager hands each input of `declared`: every stored partition of the
        upstream asset, by key (the builders pick the ones each partition reads)."""
        return {upstream: self._files(upstream) for upstream in declared.spec.inputs}

    def _files(self, asset: str) -> dict[str, Path]:
        return {key: path for key in self.partition_keys(asset)
                if (path := self.io.find(dg.AssetKey(asset), key)) is not None}


def describe_keys(keys: Sequence[str], limit: int = 6) -> str:
    """Keys for a message: all of them when few, else the first and last ones and the count."""
    if not keys:
        return "none"
    if len(keys) <= limit:
        return ", ".join(keys)
    half = limit // 2
    return f"{', '.join(keys[:half])}, ..., {', '.join(keys[-half:])} ({len(keys)} partitions)"
