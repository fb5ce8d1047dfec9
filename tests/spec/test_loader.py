"""Malformed specs fail at load time, naming the file, the asset, the field and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assetbook.errors import SpecError
from assetbook.kinds.notebook import NotebookAssetSpec
from assetbook.spec.loader import load_project
from assetbook.spec.models import SameInputSpec, WindowInputSpec
from tests.conftest import write_spec

HEADER = """
pipeline: demo
partitions:
  days: {type: daily, start: 2024-01-01}
assets:
  raw:
    kind: source
    partitions: days
    source: {type: generator, generator: project.stream:loan_day}
"""


def searching_lr(low: float) -> str:
    """A tune asset `hp` whose search draws `lr` from `low` to 0.1."""
    return f"""
  hp:
    kind: tune
    inputs: {{raw: {{mapping: window, size: 3}}}}
    model: project.models:LoanClassifier
    search:
      space: {{lr: {{type: loguniform, low: {low}, high: 0.1}}}}"""


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
    timeout: 90m
""")
    spec = load_project(project_dir).assets["feats"].spec
    assert spec.inputs["raw"] == WindowInputSpec(mapping="window", size=3, lag=1)
    assert spec.freshness.fail_after.total_seconds() == 36 * 3600
    assert spec.freshness.warn_after.total_seconds() == 90 * 60
    assert spec.timeout.total_seconds() == 90 * 60


ERRORS = {
    "unknown key": ("""
  feats:
    kind: notebook
    partitions: days
    notebok: notebooks/features.ipynb
""", ["assets/loans.yaml, asset 'feats', field 'notebok': unknown field 'notebok'; did you "
      "mean 'notebook'?", "Allowed: ", "backfill"]),
    "unknown input": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {rwa: same}
""", ["asset 'feats', field 'inputs.rwa': unknown input 'rwa'; did you mean 'raw'?",
      "Declared assets: feats, raw."]),
    "cycle": ("""
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
""", ["field 'inputs': inputs form a cycle: a -> b -> a"]),
    "missing notebook": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/nope.ipynb
""", ["asset 'feats', field 'notebook': notebook 'notebooks/nope.ipynb' not found"]),
    "not a notebook": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.txt
""", ["asset 'feats', field 'notebook': notebook 'notebooks/features.txt' is not a notebook: "
      "use an .ipynb, a jupytext percent-format .py (cells opened by `# %%`) or a MyST .md"]),
    "a module, not a notebook": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: project/features.py
""", ["field 'notebook': notebook 'project/features.py' has no code cell of the py:percent "
      "format", "`jupytext --set-formats ipynb,py:percent NOTEBOOK.ipynb` pairs"]),
    "no time at all": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    timeout: 0
""", ["asset 'feats', field 'timeout'", "greater than 0 seconds"]),
    "bad partition mapping": ("""
  summary:
    kind: notebook
    notebook: notebooks/features.ipynb
    inputs: {raw: same}
""", ["field 'inputs.raw.mapping': 'same' needs both assets on the same partitions",
      "Use 'all' or 'window'"]),
    "unknown mapping": ("""
  summary:
    kind: notebook
    notebook: notebooks/features.ipynb
    inputs: {raw: latest}
""", ["asset 'summary', field 'inputs.raw': unknown mapping 'latest'. Allowed: same, "
          "window, all."]),
    "wrong type": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {raw: {mapping: window, size: many}}
""", ["asset 'feats', field 'inputs.raw.size'", "valid integer", "'many'"]),
    "unknown kind": ("""
  feats:
    kind: notbook
""", ["asset 'feats', field 'kind': unknown kind 'notbook'; did you mean 'notebook'? "
          "Allowed: source, validate, notebook, drift, train, tune"]),
    "unknown partitions": ("""
  feats:
    kind: notebook
    partitions: weeks
    notebook: notebooks/features.ipynb
""", ["field 'partitions': unknown partitions 'weeks'; declared: days"]),
    "missing field": ("""
  feats:
    kind: notebook
    partitions: days
""", ["asset 'feats', field 'notebook': required field is missing"]),
    "unsampleable search space": (searching_lr(0.0), [
        "asset 'hp', field 'search.space.lr'", "loguniform needs low > 0 (got 0.0)"]),
    "train without data": ("""
  model:
    kind: train
    model: project.models:LoanClassifier
""", ["asset 'model', field 'inputs': a train asset reads one data input and at most one "
      "tune asset"]),
    "a hyper-parameter the search replaces": (searching_lr(0.001) + """
  model:
    kind: train
    inputs: {raw: {mapping: window, size: 3}, hp: same}
    model: project.models:LoanClassifier
    hyperparameters: {lr: 1.0e-6, hidden: 16}
""", ["asset 'model', field 'hyperparameters': lr: searched by the tune input 'hp', whose "
      "best value replaces the one set here; drop it here, or drop the tune input to train "
      "with the values set"]),
    "drift over a window": ("""
  drift:
    kind: drift
    partitions: days
    inputs: {raw: {mapping: all}}
""", ["asset 'drift', field 'inputs': a drift asset reads exactly one input, with mapping "
      "'same'"]),
    "window after a non-drift asset": ("""
  model:
    kind: train
    model: project.models:LoanClassifier
    inputs: {raw: {mapping: window, size: 3, after_drift: raw}}
""", ["asset 'model', field 'inputs.raw.after_drift': 'raw' is not a drift asset"]),
    "unknown trigger": ("""
  feats:
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {raw: same}
    automation: {type: eager, on_failed_checks: [drfit]}
""", ["asset 'feats', field 'automation.on_failed_checks': unknown asset 'drfit'"]),
    "deploy of data": ("""
  served:
    kind: deploy
    inputs: {raw: {mapping: all}}
    probe: {body: {}}
""", ["asset 'served', field 'inputs': reads a bento (a `package` asset) or another "
      "`deploy`, not the `source` asset 'raw'"]),
}


@pytest.mark.parametrize("case", ERRORS)
def test_spec_errors_name_file_asset_field_and_fix(project_dir: Path, case: str) -> None:
    text, expected = ERRORS[case]
    message = load_error(project_dir, text)
    for part in expected:
        assert part in message


PRODUCTION = """
  production:
    kind: deploy
    inputs: {deployment: same}
    probe: {body: {}}
"""


@pytest.mark.parametrize(("fields", "expected"), [
    ("    port: 3030\n", "asset 'deployment', field 'port': port 3030 is also the port of "
                            "'production'"),
    ("    port: 3031\n    promote_when: {after: 1h, checks: [champoin]}\n",
     "asset 'production', field 'promote_when': promote_when.checks names no asset champoin"),
])
def test_a_later_deployment_has_its_own_port_and_known_checks(
        project_dir: Path, fields: str, expected: str) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text() + PRODUCTION + fields)
    with pytest.raises(SpecError, match=re.escape(expected)):
        load_project(project_dir)


def test_only_a_deployment_fed_by_another_has_a_promotion_rule(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace(
        "  deployment:\n    kind: deploy\n",
        "  deployment:\n    kind: deploy\n    promote_when: {after: 1h}\n"))
    with pytest.raises(SpecError, match="promote_when applies to a deployment fed by another"):
        load_project(project_dir)


def test_invalid_yaml(project_dir: Path) -> None:
    write_spec(project_dir, "pipeline: [unclosed")
    with pytest.raises(SpecError, match=r"assets/loans.yaml: not valid YAML"):
        load_project(project_dir)


def test_a_duplicated_asset_name_fails_naming_the_file_and_both_lines(project_dir: Path) -> None:
    message = load_error(project_dir, """
  raw:
    kind: source
    partitions: days
    source: {type: generator, generator: project.stream:other_day}
""")
    assert message == ("assets/loans.yaml, line 11: duplicate key 'raw' (first at line 6)")


def test_a_duplicated_field_fails_too(project_dir: Path) -> None:
    message = load_error(project_dir, "    partitions: days\n")
    assert message == "assets/loans.yaml, line 10: duplicate key 'partitions' (first at line 8)"
