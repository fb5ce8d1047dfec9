"""A notebook's `outputs` in the specs: each output an asset in the one namespace of asset
names (a clash names the file and the asset), with the notebook's shared fields and its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetbook.errors import SpecError
from assetbook.kinds.notebook import NotebookAssetSpec, NotebookOutputSpec
from assetbook.spec.loader import load_project
from tests.conftest import write_spec
from tests.spec.test_loader import HEADER, load_error

TABLES = """
  tables:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {raw: same}
    description: Tables of a day.
    outputs:
      features:
        checks: [{schema: "project.schemas:LoanApplications"}]
        freshness: {fail_after: 2d}
        automation: manual
      summary:
"""


def test_each_output_is_an_asset_with_the_notebooks_fields_and_its_own(
        project_dir: Path) -> None:
    write_spec(project_dir, HEADER + TABLES)
    project = load_project(project_dir)
    assert list(project.assets) == ["raw", "features", "summary"]
    assert list(project.steps) == ["raw", "tables"]
    features, summary = project.written_by("tables")
    assert features.producer == summary.producer == "tables"
    assert features.spec.partitions == summary.spec.partitions == "days"
    assert [c.check_name for c in features.spec.checks] == ["LoanApplications_schema"]
    assert features.spec.automation.type == "manual" and summary.spec.automation.type == "eager"
    assert features.spec.freshness is not None and summary.spec.freshness is None
    assert summary.spec.description == "Tables of a day." and not summary.spec.checks
    assert project.downstream_of("raw") == ["features", "summary"]
    assert project.written_by("raw") == [project.assets["raw"]]


def test_a_list_of_outputs_is_short_for_outputs_with_no_fields_of_their_own(
        project_dir: Path) -> None:
    write_spec(project_dir, HEADER + TABLES.split("    outputs:")[0]
               + "    outputs: [features, summary]\n")
    spec = load_project(project_dir).steps["tables"].spec
    assert isinstance(spec, NotebookAssetSpec)
    assert spec.outputs == {"features": NotebookOutputSpec(), "summary": NotebookOutputSpec()}


def test_an_output_named_like_an_asset_of_another_file_fails_naming_both_files(
        project_dir: Path) -> None:
    write_spec(project_dir, HEADER + TABLES)
    write_spec(project_dir, """
pipeline: more
assets:
  features:
    kind: validate
    partitions: days
    inputs: {raw: same}
    checks: [{schema: "project.schemas:LoanApplications"}]
""", name="more.yaml")
    with pytest.raises(SpecError) as info:
        load_project(project_dir)
    assert str(info.value) == ("assets/more.yaml, asset 'features': already declared in "
                               "assets/loans.yaml, as an output of 'tables'")


OUTPUT_ERRORS = {
    "an output named like an asset": ("""
  summary:
    kind: validate
    partitions: days
    inputs: {raw: same}
    checks: [{schema: "project.schemas:LoanApplications"}]
""" + TABLES, "assets/loans.yaml, asset 'tables', field 'outputs.summary': output 'summary' is "
    "already declared in assets/loans.yaml; asset and output names are one namespace: rename "
    "one"),
    "an output listed twice": (TABLES.split("    outputs:")[0] + "    outputs: [a, b, a]\n",
                               "asset 'tables', field 'outputs': Value error, output 'a' is "
                               "listed twice"),
    "the notebook read instead of an output": (TABLES + """
  report:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {tables: same}
""", "asset 'report', field 'inputs.tables': 'tables' is a notebook that writes several "
     "assets; read one of them: features, summary"),
    "checks of the notebook itself": (TABLES + """\
    checks: [{schema: "project.schemas:LoanApplications"}]
""", "asset 'tables', field 'checks': a notebook with `outputs` has no `checks` of its own: "
     "move it under the output it is about, e.g. outputs.features.checks"),
    "a typo in an output": (TABLES + """\
        chekcs: []
""", "asset 'tables', field 'outputs.summary.chekcs': unknown field 'chekcs'; did you mean "
     "'checks'? Allowed: automation, checks, description, freshness, group."),
    "an output's unknown trigger": (TABLES.replace(
        "automation: manual", "automation: {type: eager, on_failed_checks: [drfit]}"),
        "asset 'tables', field 'outputs.features.automation.on_failed_checks': unknown asset "
        "'drfit'"),
}


@pytest.mark.parametrize("case", OUTPUT_ERRORS)
def test_output_errors_name_file_asset_field_and_fix(project_dir: Path, case: str) -> None:
    text, expected = OUTPUT_ERRORS[case]
    assert expected in load_error(project_dir, text)
