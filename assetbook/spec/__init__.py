"""Spec layer: `assets/*.yaml` as pydantic models. Imports neither Dagster nor ML libraries.

`models` is the shared vocabulary the kinds (`assetbook.kinds`) build on; `loader` sits above
the kinds and reads a project's files into one `ProjectSpec`.
"""
