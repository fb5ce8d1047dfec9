"""Code versions follow code cells, spec fields and named modules; not outputs."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import nbformat
import pytest

from assetbook.graph.code_version import code_version
from assetbook.spec.loader import load_project
from tests.conftest import build_defs


def features_version(root: Path) -> str:
    return build_defs(root).get_assets_def("features").code_versions_by_key[
        dg.AssetKey("features")]


def edit_notebook(root: Path, edit) -> None:
    path = root / "notebooks" / "features.ipynb"
    notebook = nbformat.read(path, as_version=4)
    edit(notebook)
    nbformat.write(notebook, path)


def test_outputs_and_counts_do_not_change_the_version(project_dir: Path) -> None:
    before = features_version(project_dir)

    def add_outputs(notebook):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.execution_count = 42
                cell.outputs = [nbformat.v4.new_output("stream", text="noise\n")]
        notebook.cells.append(nbformat.v4.new_markdown_cell("A new explanation."))
        notebook.metadata["widgets"] = {"state": 1}

    edit_notebook(project_dir, add_outputs)
    assert features_version(project_dir) == before


def test_a_code_cell_changes_the_version(project_dir: Path) -> None:
    before = features_version(project_dir)
    edit_notebook(project_dir, lambda nb: setattr(nb.cells[4], "source",
                                                  nb.cells[4].source + "\n# tweak"))
    assert features_version(project_dir) != before


def test_a_spec_field_changes_the_version(project_dir: Path) -> None:
    before = features_version(project_dir)
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("log_money: true", "log_money: false"))
    assert features_version(project_dir) != before


def test_a_named_module_changes_the_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    module = tmp_path / "helper_for_version.py"
    module.write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_version({"a": 1}, None, ["helper_for_version"])
    module.write_text("SCALE = 2\n")
    sys.modules.pop("helper_for_version", None)
    assert code_version({"a": 1}, None, ["helper_for_version"]) != before


def test_a_timeout_does_not_change_the_version(project_dir: Path) -> None:
    """A timeout bounds a run, not its result: raising it must re-run nothing."""
    before = features_version(project_dir)
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("    modules: [project.features]",
                                             "    timeout: 2h\n    modules: [project.features]"))
    assert load_project(project_dir).assets["features"].spec.timeout == timedelta(hours=2)
    assert features_version(project_dir) == before
