"""The injected-parameters cell of a notebook opened by `assetbook notebook`: added when Jupyter
opens the notebook, removed before Jupyter writes it, so the file on disk (hence its code
version and what gets committed) never holds it. Ploomber's way, as a contents manager.

The cell is the one papermill injects in a pipeline run: tagged `injected-parameters`, placed
after the cell tagged `parameters` (first, without one), and holding the parameters as Python
literals of JSON values (`as_data`), never as code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from jupytext.async_contentsmanager import AsyncTextFileContentsManager
from papermill.translators import translate_parameters
from traitlets import Unicode

from assetbook.runners.notebook import NotebookRunner, as_data

INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"


def injected_source(parameters: dict[str, Any]) -> str:
    """The cell's source, written by papermill's translator as in a pipeline run."""
    return translate_parameters(NotebookRunner.kernel_name, "python", as_data(parameters),
                                "Parameters")


def inject(notebook: dict[str, Any], parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """The notebook (nbformat v4) with the injected cell, in place of any it held."""
    cells = strip(notebook).cells
    cell = nbformat.v4.new_code_cell(injected_source(parameters),
                                     metadata={"tags": [INJECTED_TAG]})
    after = next((i + 1 for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c)), 0)
    return nbformat.from_dict({**notebook, "cells": [*cells[:after], cell, *cells[after:]]})


def strip(notebook: dict[str, Any]) -> nbformat.NotebookNode:
    """The notebook without injected cells."""
    return nbformat.from_dict({**notebook, "cells": [
        cell for cell in notebook["cells"] if INJECTED_TAG not in _tags(cell)]})


def _tags(cell: dict[str, Any]) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


class InjectingContentsManager(AsyncTextFileContentsManager):
    """Jupyter's files, text notebooks included (jupytext's manager, which Jupyter would
    otherwise wrap around this one, so that a .py notebook would be written with the cell),
    with the injected cell in the one notebook `assetbook notebook` opened."""

    notebook = Unicode(help="API path of the notebook that gets the cell, e.g. "
                       "notebooks/features.ipynb").tag(config=True)
    parameters_file = Unicode(help="JSON file of the parameters to inject").tag(config=True)

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, **kwargs: Any) -> dict[str, Any]:
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model["type"] == "notebook" and path.strip("/") == self.notebook:
            parameters = json.loads(Path(self.parameters_file).read_text())
            model["content"] = inject(model["content"], parameters)
        return model

    async def get_kernel_path(self, path: str, model: Any = None) -> str:
        """The root folder (the project) for the opened notebook: its kernel starts where a
        pipeline run's does, so relative paths in it mean the same."""
        if path.strip("/") == self.notebook:
            return ""
        return await super().get_kernel_path(path, model)

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        if model.get("type") == "notebook" and "content" in model:
            model = {**model, "content": strip(model["content"])}
        return await super().save(model, path)
