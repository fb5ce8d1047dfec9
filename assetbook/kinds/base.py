"""What a kind of asset is: its spec model, its cross-asset rules and where its builder lives.

No Dagster here: loading specs stays light, and the builder is named by reference so that only
the Dagster layer (`assetbook.graph.definitions`) imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assetbook.errors import SpecError
from assetbook.runners.notebook_source import source_problem
from assetbook.spec.models import AssetSpecBase

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec

Fail = Callable[[str, str], SpecError]  # (message, field) -> the error naming file and asset
Rules = Callable[["ProjectSpec", "DeclaredAsset", Fail], None]


def no_rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    """A kind held only to the rules every asset follows (see the loader)."""


@dataclass(frozen=True)
class Kind:
    name: str  # the `kind:` a spec declares
    spec: type[AssetSpecBase]
    builder: str  # 'module:function' taking (BuildContext, DeclaredAsset) -> AssetsDefinition
    rules: Rules = no_rules  # checks that need the whole project; raise `fail(...)`


def notebook_rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    """The spec's `notebook` is a notebook, in a form Assetbook reads, under the project root."""
    path: str = declared.spec.notebook
    if problem := source_problem(project.root / path):
        raise fail(f"notebook '{path}' {problem}", "notebook")
