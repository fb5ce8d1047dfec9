"""The IO manager: one file per asset and partition in the store (the state folder, or the
profile's fsspec store), written atomically.

Assets hand it `{partition_key: DataFrame | dict | Path}`; a frame is written as Parquet, a
dict as JSON, a path (a file a notebook or trainer staged) is renamed into place.
Downstream assets get paths, not loaded data, so a notebook can read its inputs itself and
nothing is read twice: local `Path`s, or `UPath`s whose `str()` is a URL such as `s3://...`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pandas as pd

from assetbook.atomic import StorePath, atomic_path, publish
from assetbook.errors import ArtifactError
from assetbook.resources.state import UNPARTITIONED, safe_part
from assetbook.resources.store import store_path

Artifacts = Mapping[str, "pd.DataFrame | Path | dict"]
SUFFIXES = (".parquet", ".json", ".pt")


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Stores `<root>/<asset>/<partition>.<suffix>`; unpartitioned assets use `all`."""

    root: str  # a folder or a store URL

    def path_for(self, asset_key: dg.AssetKey, partition: str, suffix: str) -> StorePath:
        folder = store_path(self.root).joinpath(*(safe_part(part) for part in asset_key.path))
        return folder / f"{safe_part(partition)}{suffix}"

    def find(self, asset_key: dg.AssetKey, partition: str) -> StorePath | None:
        for suffix in SUFFIXES:
            if (path := self.path_for(asset_key, partition, suffix)).exists():
                return path
        return None

    def stored(self, asset_key: dg.AssetKey, suffix: str = ".parquet") -> dict[str, StorePath]:
        """Every stored partition of an asset, by key, in key order."""
        folder = self.path_for(asset_key, UNPARTITIONED, suffix).parent
        return {path.stem: path for path in sorted(folder.glob(f"*{suffix}"))
                if not path.name.startswith(".")}  # a killed write's temporary file

    def handle_output(self, context: dg.OutputContext, obj: Artifacts | None) -> None:
        if obj is None:
            return
        for partition, value in obj.items():
            if isinstance(value, pd.DataFrame):
                with atomic_path(self.path_for(context.asset_key, partition, ".parquet")) as tmp:
                    value.to_parquet(tmp, index=False)
            elif isinstance(value, dict):
                with atomic_path(self.path_for(context.asset_key, partition, ".json")) as tmp:
                    tmp.write_text(json.dumps(value, indent=2, default=str))
            elif isinstance(value, Path):  # staged locally by a notebook or a trainer
                publish(value, self.path_for(context.asset_key, partition, value.suffix or ".bin"))
            else:
                raise ArtifactError(f"{context.asset_key.to_user_string()}: cannot store a "
                                    f"{type(value).__name__}; return a DataFrame, a dict or a Path")

    def load_input(self, context: dg.InputContext) -> dict[str, StorePath]:
        """Paths of the upstream partitions that exist, in key order; missing ones are skipped."""
        keys = context.asset_partition_keys if context.has_asset_partitions else [UNPARTITIONED]
        found = {key: path for key in sorted(keys)
                 if (path := self.find(context.asset_key, key)) is not None}
        if not found:
            raise ArtifactError(
                f"no stored partition of {context.asset_key.to_user_string()} among "
                f"{_preview(keys)}: materialize it first")
        return found


def _preview(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}]"
