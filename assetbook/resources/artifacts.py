"""The IO manager: one file per asset and partition under the state folder, written atomically.

Assets hand it `{partition_key: DataFrame | dict | Path}`; a frame is written as Parquet, a
dict as JSON, a path (a file a notebook or trainer staged) is renamed into place.
Downstream assets get paths, not loaded data, so a notebook can read its inputs itself and
nothing is read twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pandas as pd

from assetbook.atomic import atomic_path
from assetbook.errors import ArtifactError
from assetbook.resources.state import UNPARTITIONED, safe_part

Artifacts = Mapping[str, "pd.DataFrame | Path | dict"]
SUFFIXES = (".parquet", ".json", ".pt")


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Stores `<root>/<asset>/<partition>.<suffix>`; unpartitioned assets use `all`."""

    root: str

    def path_for(self, asset_key: dg.AssetKey, partition: str, suffix: str) -> Path:
        folder = Path(self.root, *(safe_part(part) for part in asset_key.path))
        return folder / f"{safe_part(partition)}{suffix}"

    def find(self, asset_key: dg.AssetKey, partition: str) -> Path | None:
        for suffix in SUFFIXES:
            if (path := self.path_for(asset_key, partition, suffix)).exists():
                return path
        return None

    def stored(self, asset_key: dg.AssetKey, suffix: str = ".parquet") -> dict[str, Path]:
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
            elif isinstance(value, Path):
                final = self.path_for(context.asset_key, partition, value.suffix or ".bin")
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(value, final)
            else:
                raise ArtifactError(f"{context.asset_key.to_user_string()}: cannot store a "
                                    f"{type(value).__name__}; return a DataFrame, a dict or a Path")

    def load_input(self, context: dg.InputContext) -> dict[str, Path]:
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
