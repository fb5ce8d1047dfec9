"""Daily time partitions with the generator as source, and a window of the last N days."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd

from assetbook.resources.state import StateFolder
from project.stream import LoanStream
from tests.conftest import build_defs, write_spec

SPEC = """
pipeline: stream
partitions:
  days: {type: daily, start: 2024-03-01, end: 2024-03-08}
assets:
  applications:
    kind: source
    partitions: days
    source: {type: generator, generator: project.stream:loan_day, rows: 300, options: {seed: 5}}
  recent:
    kind: notebook
    partitions: days
    notebook: notebooks/count.ipynb
    inputs: {applications: {mapping: window, size: 3, lag: 1}}
"""
COUNT = """
import pandas as pd
for p in partitions:
    files = p["inputs"]["applications"]
    pd.DataFrame({"files": [len(files)], "first": [files[0].rsplit("/", 1)[-1]]}).to_parquet(
        p["output"])
"""


def test_generator_days_and_a_lagged_window(project_dir: Path, state: StateFolder,
                                            instance: dg.DagsterInstance) -> None:
    write_spec(project_dir, SPEC)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(COUNT)])
    nbformat.write(notebook, project_dir / "notebooks" / "count.ipynb")
    defs = build_defs(project_dir)
    run = {"assets": list(defs.assets), "instance": instance, "resources": defs.resources}
    for day in ("2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"):
        assert dg.materialize(**run, selection=["applications"], partition_key=day).success
    assert dg.materialize(**run, selection=["recent"], partition_key="2024-03-05").success

    day = pd.read_parquet(state.artifacts / "applications" / "2024-03-02.parquet")
    pd.testing.assert_frame_equal(day, LoanStream(300, seed=5).generate("2024-03-02"))
    recent = pd.read_parquet(state.artifacts / "recent" / "2024-03-05.parquet")
    assert recent.to_dict("records") == [{"files": 3, "first": "2024-03-02.parquet"}]


def test_days_and_months_in_one_project_load_as_dagster_loads_them(project_dir: Path) -> None:
    """Every job must hold one partitions definition: a sensor targeting all assets made
    `dagster dev` refuse this project."""
    write_spec(project_dir, SPEC.replace("  recent:", """  monthly:
    kind: source
    partitions: months
    source: {type: generator, generator: project.stream:loan_day, rows: 10}
  recent:""").replace("partitions:\n",
                        "partitions:\n  months: {type: monthly, start: 2024-01-01}\n"))
    (project_dir / "notebooks" / "count.ipynb").write_text(nbformat.writes(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(COUNT)])))

    dg.Definitions.validate_loadable(build_defs(project_dir))
