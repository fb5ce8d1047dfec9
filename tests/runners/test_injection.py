"""The injected-parameters cell of `assetbook notebook`: papermill's own cell, in papermill's
place, holding data; and the contents manager that adds it on open and drops it on save, for
an .ipynb and for a percent-format .py (written by jupytext, which must not write the cell)."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from assetbook.graph.code_version import notebook_code
from assetbook.runners.injection import INJECTED_TAG, InjectingContentsManager, inject, strip

PARAMETERS = {"partitions": [{"key": "2024-01-03", "inputs": {"data": ["/a/2024-01-03.parquet"]},
                              "output": "/scratch/2024-01-03.parquet"}],
              "config": {"note": '"); import os; os.system("echo pwned'}}  # stays a string


def notebook() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A notebook"),
        nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("rows = len(partitions)"),
    ], metadata={"kernelspec": {"name": "python3", "language": "python",
                                "display_name": "Python 3"}})


def tags(nb: dict[str, Any]) -> list[list[str]]:
    return [cell.get("metadata", {}).get("tags", []) for cell in nb["cells"]]


def test_the_cell_is_papermills_after_the_parameters_cell(tmp_path: Path) -> None:
    injected = inject(notebook(), PARAMETERS)
    assert tags(injected) == [[], ["parameters"], [INJECTED_TAG], []]
    nbformat.write(notebook(), tmp_path / "steps.ipynb")
    by_papermill = parameterize_notebook(load_notebook_node(str(tmp_path / "steps.ipynb")),
                                         PARAMETERS, kernel_name="python3", language="python")
    assert injected.cells[2].source == by_papermill.cells[2].source
    body = ast.parse(injected.cells[2].source).body
    assert {node.targets[0].id: ast.literal_eval(node.value) for node in body} == PARAMETERS


def test_injecting_again_replaces_the_cell_and_strip_restores_the_notebook() -> None:
    original = notebook()
    twice = inject(inject(original, PARAMETERS), {"partitions": [], "config": {}})
    assert tags(twice).count([INJECTED_TAG]) == 1 and "partitions = []" in twice.cells[2].source
    assert strip(twice) == original
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    assert tags(inject(bare, PARAMETERS)) == [[INJECTED_TAG], []]  # no parameters cell: first


@pytest.mark.parametrize("suffix", [".ipynb", ".py"])
def test_the_contents_manager_injects_on_open_and_saves_without_it(
        tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "notebooks" / f"steps{suffix}"
    source.parent.mkdir()
    fmt = "ipynb" if suffix == ".ipynb" else "py:percent"
    jupytext.write(notebook(), source, fmt=fmt)
    other = tmp_path / "notebooks" / "other.ipynb"
    nbformat.write(notebook(), other)
    clean_text, clean_code = source.read_text(), notebook_code(source)
    parameters_file = tmp_path / "parameters.json"
    parameters_file.write_text(json.dumps(PARAMETERS))
    manager = InjectingContentsManager(root_dir=str(tmp_path), notebook=f"notebooks/{source.name}",
                                       parameters_file=str(parameters_file))

    async def open_edit_save() -> tuple[dict, dict]:
        model = await manager.get(f"notebooks/{source.name}")
        untouched = await manager.get("notebooks/other.ipynb")
        model["content"]["cells"][-1]["source"] = "rows = len(partitions) + 1"  # an edit
        await manager.save({"type": "notebook", "content": model["content"]},
                           f"notebooks/{source.name}")
        return model, untouched

    model, untouched = asyncio.run(open_edit_save())
    assert tags(model["content"]) == [[], ["parameters"], [INJECTED_TAG], []]
    assert tags(untouched["content"]) == [[], ["parameters"], []]  # only the opened notebook
    saved = source.read_text()
    assert INJECTED_TAG not in saved and "/scratch/2024-01-03.parquet" not in saved
    assert saved != clean_text and "len(partitions) + 1" in saved  # the edit was saved
    assert notebook_code(source) == clean_code.replace("len(partitions)", "len(partitions) + 1")


def test_the_opened_notebooks_kernel_starts_in_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    manager = InjectingContentsManager(root_dir=str(tmp_path), notebook="notebooks/steps.ipynb",
                                       parameters_file=str(tmp_path / "parameters.json"))
    assert asyncio.run(manager.get_kernel_path("notebooks/steps.ipynb")) == ""
    assert asyncio.run(manager.get_kernel_path("notebooks/other.ipynb")) == "notebooks"
