"""A project's landing sources (source assets fed by files landing in a folder) and their
folders. Specs and the state folder only, no Dagster: `assetbook simulate` lands days without
building the graph."""

from __future__ import annotations

from assetbook.atomic import StorePath
from assetbook.kinds import AssetSpec
from assetbook.kinds.source import SourceAssetSpec
from assetbook.resources.state import StateFolder
from assetbook.resources.store import store_path
from assetbook.spec.loader import DeclaredAsset, ProjectSpec
from assetbook.spec.models import LandingSourceSpec


def is_landing_source(spec: AssetSpec) -> bool:
    return isinstance(spec, SourceAssetSpec) and isinstance(spec.source, LandingSourceSpec)


def landing_sources(project: ProjectSpec) -> list[DeclaredAsset]:
    return [d for d in project.assets.values() if is_landing_source(d.spec)]


def landing_spec(declared: DeclaredAsset) -> LandingSourceSpec:
    """The landing settings of a source asset known to be a landing source."""
    assert isinstance(declared.spec, SourceAssetSpec)
    assert isinstance(declared.spec.source, LandingSourceSpec)
    return declared.spec.source


def landing_folder(project: ProjectSpec, state: StateFolder, asset: str,
                   spec: LandingSourceSpec) -> StorePath:
    """The spec's `folder` (relative to the project, or a store URL), else the landing folder
    in the project's store."""
    if not spec.folder:
        return state.landing(asset)
    if "://" in spec.folder:
        return store_path(spec.folder)
    return (project.root / spec.folder).resolve()
