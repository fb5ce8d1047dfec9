"""`load`: an asset's value in a notebook or a REPL, as the pipeline stored it.

It finds the project from the current folder, asks the project's Dagster instance which
partitions are materialized, and reads the files the artifact IO manager keeps for them
(`assetbook.graph.stored`): a frame (Parquet) as a pandas DataFrame, a model file as a
`Predictor` (the module with its preprocessing and target encoding), JSON (metrics,
hyper-parameters, records) as a dict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.stored import StoredAssets, describe_keys
from assetbook.resources.importable import make_importable
from assetbook.resources.state import UNPARTITIONED, StateFolder
from assetbook.resources.store import read_frame
from assetbook.serving.model_file import Predictor
from assetbook.spec.loader import load_project

READERS: dict[str, Callable[[Path], Any]] = {
    ".parquet": read_frame,
    ".json": lambda path: json.loads(path.read_text()),
    ".pt": Predictor.load,
}


def find_project(start: Path) -> Path:
    """The folder holding `assets/` and `workspace.yaml`: `start` or the nearest above it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "assets").is_dir() and (folder / "workspace.yaml").is_file():
            return folder
    raise AssetbookError(f"no Assetbook project in {start} or above it (a project folder "
                         "holds assets/ and workspace.yaml); pass project='path/to/project'")


def load(asset: str, partition: str | None = None, *, start: str | None = None,
         end: str | None = None, last: int | None = None, version: str | None = None,
         project: Path | str | None = None) -> Any:
    """The stored value of `asset`, for one partition, a range (`start`..`end`, both
    included; either may be left out) or the `last` N materialized ones; an unpartitioned
    asset takes none of these. Frames of several partitions are concatenated in key order;
    other values of several partitions come as a dict by key. With `version` (a content
    version, as `assetbook lineage` prints it), that kept version of one partition instead of
    the latest: the exact bytes a past model read.

    `project` defaults to the project holding the current folder.
    """
    root = find_project(Path(project) if project is not None else Path.cwd())
    make_importable(root)  # a model file names its class in the project's package
    state = StateFolder.for_project(root)
    with dg.DagsterInstance.from_config(str(state.prepare_dagster_home())) as instance:
        stored = StoredAssets(BuildContext(load_project(root), state), instance)
        stored.declared(asset)
        keys = _chosen(stored, asset, partition, start, end, last)
        if version is not None and len(keys) != 1:
            raise AssetbookError(f"version='{version}' is the version of one partition: give "
                                 "partition='KEY' with it")
        paths = [stored.path(asset, key) if version is None else
                 stored.version_path(asset, key, version) for key in keys]
    values = [READERS[path.suffix](path) for path in paths]
    if len(values) == 1:
        return values[0]
    if all(isinstance(value, pd.DataFrame) for value in values):
        return pd.concat(values, ignore_index=True)
    return dict(zip(keys, values, strict=True))


def _chosen(stored: StoredAssets, asset: str, partition: str | None, start: str | None,
            end: str | None, last: int | None) -> list[str]:
    """The materialized keys the arguments name, in key order."""
    done = stored.materialized(asset)
    if not done:
        raise AssetbookError(f"'{asset}' has never been materialized in {stored.ctx.project.root}"
                             "; run the pipeline first (`assetbook run`)")
    ways = [name for name, value in (("partition", partition), ("start", start), ("end", end),
                                     ("last", last)) if value is not None]
    if done == [UNPARTITIONED]:
        if ways:
            raise AssetbookError(f"'{asset}' is not partitioned: call load('{asset}') without "
                                 f"{' or '.join(ways)}")
        return done
    have = f"materialized: {describe_keys(done)}"
    if not ways or (len(ways) > 1 and set(ways) != {"start", "end"}):
        raise AssetbookError(f"'{asset}' is partitioned: give one of partition='KEY', start='KEY'"
                             f" and/or end='KEY', or last=N ({have})")
    if partition is not None:
        if partition not in done:
            raise AssetbookError(f"'{asset}' has no materialized partition '{partition}' "
                                 f"({have})")
        return [partition]
    if last is not None:
        if last < 1:
            raise AssetbookError(f"last={last}: give a number of partitions, 1 or more ({have})")
        return done[-last:]
    return _between(stored, asset, start or done[0], end or done[-1], done)


def _between(stored: StoredAssets, asset: str, first: str, final: str,
             done: list[str]) -> list[str]:
    """Every key from `first` to `final`; all of them must be materialized, so that a range
    never comes back silently short."""
    keys = stored.partition_keys(asset)
    have = f"materialized: {describe_keys(done)}"
    for bound in (first, final):
        if bound not in keys:
            raise AssetbookError(f"'{asset}' has no partition '{bound}' ({have})")
    chosen = keys[keys.index(first):keys.index(final) + 1]
    if not chosen:
        raise AssetbookError(f"start='{first}' comes after end='{final}'")
    if missing := [key for key in chosen if key not in done]:
        raise AssetbookError(f"'{asset}' is not materialized for {describe_keys(missing)} of "
                             f"{first}..{final} ({have}); last=N loads the latest N")
    return chosen
