"""Malformed specs fail at load time, naming the file, the asset, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from project.errors import SpecError
from project.spec import load_project
from project.spec.models import NotebookAssetSpec, SameInputSpec, WindowInputSpec
from tests.conftest import write_spec

HEADER = """
pipeline: demo
partitions:
  days: {type: daily, start: 2024-01-01}
assets:
  raw:
    kind: source
    partitions: days
    source: {type: loans_stream}
"""


def load_error(root: Path, text: str) -> str:
    write_spec(root, HEADER + text)
    with pytest.raises(SpecError) as info:
        load_project(root)
    return str(info.value)


def test_default_project_loads(project_dir: Path) -> None:
    project = load_project(project_dir)
    features = project.assets["features"].spec
    assert isinstance(features, NotebookAssetSpec)
    assert isinstance(features.inputs["validated_applications"], SameInputSpec)
    assert project.downstream_of("validated_applications") == ["features"]


def test_window_shorthand_and_durations(project_dir: Path) -> None:
    write_spec(project_dir, HEADER + """
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {raw: {mapping: window, size: 3, lag: 1}}
    freshness: {fail_after: 36h, warn_after: 90m}
""")
    spec = load_project(project_dir).assets["feats"].spec
    assert spec.inputs["raw"] == WindowInputSpec(mapping="window", size=3, lag=1)
    assert spec.freshness.fail_after.total_seconds() == 36 * 3600
    assert spec.freshness.warn_after.total_seconds() == 90 * 60


def test_unknown_key_suggests_the_field(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: days
    notebok: notebooks/features.ipynb
""")
    assert message.startswith("assets/loans.yaml, asset 'feats', field 'notebok': ")
    assert "unknown field 'notebok'; did you mean 'notebook'?" in message
    assert "Allowed: " in message and "backfill" in message


def test_unknown_input_lists_declared_assets(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {rwa: same}
""")
    assert "asset 'feats', field 'inputs.rwa': unknown input 'rwa'; did you mean 'raw'?" in message
    assert "Declared assets: feats, raw." in message


def test_cycle_is_named(project_dir: Path) -> None:
    message = load_error(project_dir, """
  a:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {b: same}
  b:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {a: same}
""")
    assert "field 'inputs': inputs form a cycle: a -> b -> a" in message


def test_missing_notebook(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/nope.ipynb
""")
    assert "asset 'feats', field 'notebook': notebook 'notebooks/nope.ipynb' not found" in message


def test_bad_partition_mapping(project_dir: Path) -> None:
    message = load_error(project_dir, """
  summary:
    kind: notebook
    notebook: notebooks/features.ipynb
    inputs: {raw: same}
""")
    assert "field 'inputs.raw.mapping': 'same' needs both assets on the same partitions" in message
    assert "Use 'all' or 'window'" in message


def test_unknown_mapping_lists_the_allowed_ones(project_dir: Path) -> None:
    message = load_error(project_dir, """
  summary:
    kind: notebook
    notebook: notebooks/features.ipynb
    inputs: {raw: latest}
""")
    assert "asset 'summary', field 'inputs.raw'" in message
    assert "'same', 'window', 'all'" in message


def test_wrong_type(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {raw: {mapping: window, size: many}}
""")
    assert "asset 'feats', field 'inputs.raw.size'" in message
    assert "valid integer" in message and "'many'" in message


def test_unknown_kind(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notbook
""")
    assert "asset 'feats'" in message
    assert "'source', 'validate', 'notebook'" in message


def test_unknown_partitions_name(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: weeks
    notebook: notebooks/features.ipynb
""")
    assert "field 'partitions': unknown partitions 'weeks'; declared: days" in message


def test_missing_required_field(project_dir: Path) -> None:
    message = load_error(project_dir, """
  feats:
    kind: notebook
    partitions: days
""")
    assert "asset 'feats', field 'notebook': required field is missing" in message


def test_invalid_yaml(project_dir: Path) -> None:
    write_spec(project_dir, "pipeline: [unclosed")
    with pytest.raises(SpecError, match=r"assets/loans.yaml: not valid YAML"):
        load_project(project_dir)
