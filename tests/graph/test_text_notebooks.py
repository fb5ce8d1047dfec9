"""Plain-text notebooks (jupytext percent .py, MyST .md) as notebook assets: the same run,
report and code version as their .ipynb pair."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import jupytext
import nbformat
import pytest

from assetbook.resources.state import StateFolder
from tests.conftest import DATA, build_defs, failure_messages, land, materialize

FORMATS = {"py:percent": ".py", "md:myst": ".md"}


def use_notebook(root: Path, name: str) -> None:
    """Point the features asset of the default spec at notebooks/`name`."""
    spec = root / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("notebook: notebooks/features.ipynb",
                                             f"notebook: notebooks/{name}"))


def pair(root: Path, fmt: str) -> Path:
    """The features notebook written in text form `fmt` beside its .ipynb, as
    `jupytext --set-formats ipynb,<fmt>` would."""
    notebook = jupytext.read(root / "notebooks" / "features.ipynb")
    text = root / "notebooks" / f"features{FORMATS[fmt]}"
    jupytext.write(notebook, text, fmt=fmt)
    return text


def features_version(root: Path) -> str:
    return build_defs(root).get_assets_def("features").code_versions_by_key[
        dg.AssetKey("features")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_notebook_materializes_with_its_report(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance, fmt: str
) -> None:
    text = pair(project_dir, fmt)
    (project_dir / "notebooks" / "features.ipynb").unlink()  # only the text form can run
    use_notebook(project_dir, text.name)
    keys = land(project_dir, 1)
    result = materialize(build_defs(project_dir), instance, DATA, keys)
    assert result.success, failure_messages(result)

    assert (state.artifacts / "features" / "2024-01-01.parquet").exists()
    report = state.reports / "features" / "2024-01-01.ipynb"
    executed = nbformat.read(report, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    outputs = "".join(str(c.get("outputs")) for c in executed.cells)
    assert "loan_to_income" in outputs  # the describe() table of the last cell
    assert "loan_to_income" in report.with_suffix(".html").read_text()
    event = instance.get_latest_materialization_event(dg.AssetKey("features"))
    assert event.asset_materialization.metadata["notebook"].value == str(report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_notebook_has_the_version_of_its_pair_and_follows_code_edits(
    project_dir: Path, fmt: str
) -> None:
    path = project_dir / "notebooks" / "features.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for count, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", text="noise\n")]
    nbformat.write(notebook, path)
    text = pair(project_dir, fmt)
    executed_ipynb = features_version(project_dir)
    use_notebook(project_dir, text.name)
    assert features_version(project_dir) == executed_ipynb

    notebook = jupytext.read(text, fmt=fmt)
    notebook.cells.append(nbformat.v4.new_markdown_cell("A new explanation."))
    jupytext.write(notebook, text, fmt=fmt)
    assert features_version(project_dir) == executed_ipynb

    notebook.cells[4].source += "\n# tweak"
    jupytext.write(notebook, text, fmt=fmt)
    assert features_version(project_dir) != executed_ipynb
