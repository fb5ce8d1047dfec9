"""Notebook assets through a real Dagster instance and real papermill kernels."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd
import psutil

from assetbook.resources.state import StateFolder
from assetbook.runners.kernels import KERNELS
from tests.conftest import DATA, build_defs, failure_messages, land, materialize, write_spec
from tests.processes import kernels_of_this_process


def test_one_partition_then_a_range_in_one_kernel(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    keys = land(project_dir, 3)
    defs = build_defs(project_dir)
    assert materialize(defs, instance, DATA, keys[:1]).success
    assert materialize(defs, instance, DATA, keys[1:]).success

    for key in keys:
        features = pd.read_parquet(state.artifacts / "features" / f"{key}.parquet")
        assert len(features) == 400
        assert {"income", "loan_to_income", "equity", "label"} <= set(features.columns)
    reports = state.reports / "features"
    assert (reports / "2024-01-01.html").exists()
    assert (reports / "2024-01-02__2024-01-03.ipynb").exists()  # the range ran once
    assert not (reports / "2024-01-02.ipynb").exists()
    executed = nbformat.read(reports / "2024-01-02__2024-01-03.ipynb", as_version=4)
    assert any("2 day(s), last: 2024-01-03" in str(c.get("outputs")) for c in executed.cells)

    event = instance.get_latest_materialization_event(dg.AssetKey("features"))
    metadata = event.asset_materialization.metadata
    assert metadata["notebook"].value.endswith("2024-01-02__2024-01-03.ipynb")
    assert metadata["dagster/row_count"].value == 800  # both days of the range
    assert sorted(instance.get_materialized_partitions(dg.AssetKey("features"))) == keys
    assert not list((state.root / "staging" / "features").iterdir())  # all moved into place


def test_failing_cell_names_the_cell_and_keeps_the_notebook(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    notebook_path = project_dir / "notebooks" / "features.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells[4].source += "\nraise ValueError('income must be positive')"
    nbformat.write(notebook, notebook_path)
    keys = land(project_dir, 1)
    result = materialize(build_defs(project_dir), instance, DATA, keys)

    assert not result.success
    message = failure_messages(result)
    assert "asset 'features' (2024-01-01): notebook features.ipynb failed in cell" in message
    assert "ValueError: income must be positive" in message
    assert "--- cell source ---\nfor partition in partitions:" in message
    assert "--- traceback ---" in message
    assert (state.reports / "features" / "2024-01-01.ipynb").exists()
    assert (state.reports / "features" / "2024-01-01.html").exists()
    assert not (state.artifacts / "features").exists()


def test_notebook_that_writes_no_output_fails(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    notebook_path = project_dir / "notebooks" / "features.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells[4].source = "features = pd.DataFrame({'x': [1]})"
    notebook.cells[5].source = "features"
    nbformat.write(notebook, notebook_path)
    result = materialize(build_defs(project_dir), instance, DATA, land(project_dir, 1))
    assert "ran but did not write its output to" in failure_messages(result)


SUMMARY_SPEC = """\
pipeline: loans
assets:
  day_summary:
    kind: notebook
    partitions: days
    notebook: notebooks/summary.py
    inputs: {features: same}
"""
SUMMARY = """\
# %% tags=["parameters"]
partitions = []

# %%
import sys
warm = "pyarrow.parquet" in sys.modules  # imported before this notebook ran a line
own = "email.mime.audio" in sys.modules  # so was what this notebook imports
import email.mime.audio
import pandas as pd
for partition in partitions:
    pd.DataFrame({"warm": [warm], "own": [own]}).to_parquet(partition["output"])
"""



def test_a_notebook_below_another_step_in_the_run_gets_a_kernel_started_meanwhile(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    write_spec(project_dir, SUMMARY_SPEC, "summary.yaml")
    (project_dir / "notebooks" / "summary.py").write_text(SUMMARY)
    keys = land(project_dir, 2)
    defs = build_defs(project_dir)
    KERNELS.stop_all()  # what earlier tests in this process left

    assert materialize(defs, instance, [*DATA, "day_summary"], keys[:1]).success
    first = pd.read_parquet(state.artifacts / "day_summary" / f"{keys[0]}.parquet")
    assert first["warm"][0] and first["own"][0]
    _, left = psutil.wait_procs(kernels_of_this_process(), timeout=30)
    assert not left  # both kernels used and shut down; no spare once no notebook follows

    assert materialize(defs, instance, [*DATA, "day_summary"], keys[1:]).success
    assert materialize(defs, instance, ["day_summary"], keys[1:]).success  # alone: cold
    assert not pd.read_parquet(state.artifacts / "day_summary" / f"{keys[1]}.parquet")["warm"][0]
    _, left = psutil.wait_procs(kernels_of_this_process(), timeout=30)
    assert not left
