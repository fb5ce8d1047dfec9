"""`train`: a Lightning fit over a window of its data input -> a new candidate model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.kinds.tune import TuneAssetSpec
from assetbook.spec.models import NAME_PATTERN, ModelAssetSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class TrainAssetSpec(ModelAssetSpec):
    kind: Literal["train"]
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments of the model; a `tune` input adds its best "
        "values (a value set here may not be one it searches).")
    register_as: str | None = Field(None, pattern=NAME_PATTERN,
                                    description="MLflow registered model; default: the pipeline.")


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    inputs = declared.spec.inputs
    tuned = [n for n in inputs if isinstance(project.assets[n].spec, TuneAssetSpec)]
    data = [n for n in inputs if n not in tuned]
    if len(tuned) > 1 or len(data) != 1:
        raise fail("a train asset reads one data input and at most one tune asset "
                   f"(got data: {data or 'none'}, tune: {tuned or 'none'})", "inputs")
    for name in tuned:  # a value set here that the search's best replaces would be dead
        if searched := sorted(set(declared.spec.hyperparameters)
                              & set(project.assets[name].spec.search.space)):
            raise fail(f"{', '.join(searched)}: searched by the tune input '{name}', whose best "
                       "value replaces the one set here; drop it here, or drop the tune input "
                       "to train with the values set", "hyperparameters")


KIND = Kind("train", TrainAssetSpec, "assetbook.kinds.train.asset:build_train_asset", rules)
