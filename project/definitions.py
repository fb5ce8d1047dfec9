"""The Dagster code location of this project (`workspace.yaml` and `[tool.dagster]` name it):
the specs in `assets/`, read from the folder above this package."""

from pathlib import Path

from assetbook.graph import definitions_for

defs = definitions_for(Path(__file__).resolve().parent.parent)
