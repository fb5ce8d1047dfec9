"""Spec layer: `assets/*.yaml` as pydantic models. Imports neither Dagster nor ML libraries.

`models` is the shared vocabulary the kinds (`assetbook.kinds`) build on; the loader sits above
the kinds. So the loader is imported on first use of its names here, not with the package:
importing `assetbook.spec.models` (as the kinds and the training process do) stays light and
cannot reach back into a half-imported `assetbook.kinds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec, load_project

__all__ = ["DeclaredAsset", "ProjectSpec", "load_project"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from assetbook.spec import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
