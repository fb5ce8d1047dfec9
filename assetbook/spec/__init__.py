"""Spec layer: `assets/*.yaml` as pydantic models. Imports neither Dagster nor ML libraries."""

from assetbook.spec.loader import DeclaredAsset, ProjectSpec, load_project

__all__ = ["DeclaredAsset", "ProjectSpec", "load_project"]
