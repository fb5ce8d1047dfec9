"""`evaluate`: a report notebook scoring the candidate and the champion on held-out days."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from assetbook.kinds.base import Fail, Kind, notebook_rules
from assetbook.spec.models import NotebookStepSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class EvaluateAssetSpec(NotebookStepSpec):
    """A report notebook scoring the candidate (a `train` input) and the current champion on
    the held-out days (the data input), written as HTML with the metrics as JSON."""

    kind: Literal["evaluate"]


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    notebook_rules(project, declared, fail)
    check_model_inputs(project, declared, fail, "data")


def check_model_inputs(project: ProjectSpec, declared: DeclaredAsset, fail: Fail,
                       other: Literal["data", "evaluate"]) -> None:
    """One train input and one `other` input (any kind but train, when 'data')."""
    kinds = sorted(project.assets[n].spec.kind for n in declared.spec.inputs)
    if len(kinds) != 2 or kinds.count("train") != 1 or (
            other == "evaluate" and "evaluate" not in kinds):
        raise fail(f"reads one train input and one {other} input (got kinds: "
                   f"{', '.join(kinds) or 'none'})", "inputs")


KIND = Kind("evaluate", EvaluateAssetSpec,
            "assetbook.kinds.evaluate.asset:build_evaluate_asset", rules)
