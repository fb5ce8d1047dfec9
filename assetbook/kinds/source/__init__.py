"""`source`: brings data in, from a generator function or a folder of landed files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase, ServedSourceSpec, SourceSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class SourceAssetSpec(AssetSpecBase):
    kind: Literal["source"]
    source: SourceSpec

    @field_validator("inputs")
    @classmethod
    def _no_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs:
            raise ValueError("a source asset reads no inputs; remove `inputs`")
        return inputs


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    source = declared.spec.source
    if isinstance(source, ServedSourceSpec) and source.deployment and (
            source.deployment not in project.assets
            or project.assets[source.deployment].spec.kind != "deploy"):
        raise fail(f"source.deployment '{source.deployment}' is not a `deploy` asset",
                   "source")


KIND = Kind("source", SourceAssetSpec, "assetbook.kinds.source.asset:build_source_asset",
            rules)
