"""The IO manager: every version of every asset partition in the store (the state folder, or
the profile's fsspec store), immutable, and the latest one where readers look for it.

Assets hand it `{partition_key: Path}`, files staged and versioned by `graph.outputs`. Each
is stored once under its content version (`.versions/<asset>/<partition>/<version><suffix>`,
read-only) and becomes the latest (`<asset>/<partition><suffix>`): on a disk a hard link to
that version (no second copy), on a store a copy made by the store itself (S3's CopyObject:
nothing is uploaded twice). Both appear whole or not at all.
Downstream assets get paths, not loaded data, so a notebook can read its inputs itself and
nothing is read twice: local `Path`s, or `UPath`s whose `str()` is a URL such as `s3://...`.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from assetbook.atomic import StorePath, publish
from assetbook.errors import ArtifactError
from assetbook.resources.state import UNPARTITIONED, safe_part
from assetbook.resources.store import store_path
from assetbook.resources.versions import VERSIONS_FOLDER, content_version

Artifacts = Mapping[str, Path]
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
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

    def version_path(self, asset_key: dg.AssetKey, partition: str, version: str,
                     suffix: str) -> StorePath:
        """Where one version of a partition is kept, immutable."""
        folder = store_path(self.root).joinpath(VERSIONS_FOLDER, *(
            safe_part(part) for part in asset_key.path), safe_part(partition))
        return folder / f"{safe_part(version)}{suffix}"

    def versions(self, asset_key: dg.AssetKey, partition: str) -> dict[str, StorePath]:
        """Every stored version of a partition, by version."""
        folder = self.version_path(asset_key, partition, "v", "").parent
        if not folder.is_dir():
            return {}
        return {path.stem: path for path in sorted(folder.iterdir())
                if path.suffix in SUFFIXES and not path.name.startswith(".")}

    def handle_output(self, context: dg.OutputContext, obj: Artifacts | None) -> None:
        if obj is None:
            return
        for partition, staged in obj.items():
            if not isinstance(staged, Path):
                raise ArtifactError(f"{context.asset_key.to_user_string()}: cannot store a "
                                    f"{type(staged).__name__}; stage it with graph.outputs")
            self.store(context.asset_key, partition, staged)

    def store(self, asset_key: dg.AssetKey, partition: str, staged: Path) -> str:
        """Keep a staged file as a version of the partition and make it the latest; the staged
        file is gone afterwards. Returns its version."""
        version, suffix = content_version(staged), staged.suffix or ".bin"
        kept = self.version_path(asset_key, partition, version, suffix)
        latest = self.path_for(asset_key, partition, suffix)
        if isinstance(kept, Path) and isinstance(latest, Path):
            if kept.exists():  # the same bytes again: nothing new to keep
                staged.unlink()
            else:
                publish(staged, kept)
                kept.chmod(READ_ONLY)
            _link(kept, latest)
        else:  # a store: one complete put of the version, then a copy inside the store
            if not kept.exists():
                publish(staged, kept)
            else:
                staged.unlink()
            kept.fs.copy(kept.path, latest.path)
        return version

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


def _link(kept: Path, latest: Path) -> None:
    """Make `latest` the kept version in one rename: a hard link, or a copy where the disk
    has none."""
    latest.parent.mkdir(parents=True, exist_ok=True)
    temporary = latest.with_name(f".{latest.stem}.{uuid.uuid4().hex[:8]}.tmp{latest.suffix}")
    try:
        try:
            os.link(kept, temporary)
        except OSError:
            shutil.copyfile(kept, temporary)
        os.replace(temporary, latest)
    finally:  # a failed copy (a full disk) leaves no stray file beside the latest
        temporary.unlink(missing_ok=True)
