"""Build layer: specs -> Dagster definitions. The only layer that knows all others."""

from assetbook.graph.definitions import build_definitions, definitions_for

__all__ = ["build_definitions", "definitions_for"]
