"""`source`: brings data in, from a generator function or a folder of landed files."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from assetbook.kinds.base import Kind
from assetbook.spec.models import AssetSpecBase, SourceSpec


class SourceAssetSpec(AssetSpecBase):
    kind: Literal["source"]
    source: SourceSpec

    @field_validator("inputs")
    @classmethod
    def _no_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs:
            raise ValueError("a source asset reads no inputs; remove `inputs`")
        return inputs


KIND = Kind("source", SourceAssetSpec, "assetbook.kinds.source.asset:build_source_asset")
