"""`notebook`: a notebook run by papermill that writes each partition's frame."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assetbook.kinds.base import Kind, notebook_rules
from assetbook.spec.models import NotebookStepSpec


class NotebookAssetSpec(NotebookStepSpec):
    kind: Literal["notebook"]
    backfill: Literal["single_run", "per_partition"] = Field(
        "single_run", description="single_run runs a range of partitions in one kernel."
    )


KIND = Kind("notebook", NotebookAssetSpec,
            "assetbook.kinds.notebook.asset:build_notebook_asset", notebook_rules)
