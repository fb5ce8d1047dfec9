"""`assetbook run` and `assetbook materialize` as a user types them: what runs is what Dagster
reports missing or stale, and the output is Assetbook's own lines, ending with a summary.

One project (no search, two small days, nothing served) is materialized once for the module;
the tests then edit it in order, each checking what the instance recorded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from assetbook.resources.state import STATE_ENV, StateFolder
from tests.conftest import BIN, copy_example
from tests.specs import speed_up

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")  # the models hold out the last two
DATA = ("raw_applications", "validated_applications")
BELOW_FEATURES = ("features", "drift_report", "candidate_model", "evaluation_report",
                  "champion")


def assetbook(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != STATE_ENV}
    return subprocess.run([str(BIN / "assetbook"), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)


def materializations(root: Path) -> Counter[tuple[str, str | None]]:
    """(asset, partition) -> how many times it was materialized."""
    with dg.DagsterInstance.from_config(str(root / ".assetbook" / "dagster")) as instance:
        counts: Counter[tuple[str, str | None]] = Counter()
        for key in instance.get_asset_keys():
            records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key),
                                                      limit=1000).records
            counts.update((key.to_user_string(), r.partition_key) for r in records)
        return counts


def edit_features_notebook(root: Path, code: bool) -> None:
    """Add a comment to the code of a cell of the features notebook, or only an output."""
    path = root / "notebooks" / "features.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code"
                and "parameters" not in c.metadata.get("tags", []))
    if code:
        cell.source += "\n# an edit of the code"
    else:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an output\n")]
        cell.execution_count = 42
    nbformat.write(notebook, path)


def decisions(root: Path) -> list[dict]:
    """The gate's decisions so far, oldest first."""
    history = StateFolder.for_project(root).promotions
    return [json.loads(line) for line in history.read_text().splitlines()]


def champion_version(root: Path) -> str:
    registry = MlflowClient(f"sqlite:///{root / '.assetbook' / 'mlflow.db'}")
    return registry.get_model_version_by_alias("loans_classifier", "champion").version


LIBRARY_WARNING = "a library the project imports warns of something"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = copy_example(tmp_path_factory.mktemp("run-command"))
    speed_up(root, search=False)
    with (root / "project" / "schemas.py").open("a") as schemas:  # read in the run's process
        schemas.write(f"\nimport warnings\nwarnings.warn({LIBRARY_WARNING!r})\n")
    first = assetbook(root, "run", "--days", str(len(DAYS)), "--rows", "300", "--no-serve")
    assert first.returncode == 0, first.stdout + first.stderr
    return root, first


@pytest.mark.slow
def test_the_first_run_shows_each_step_and_ends_with_a_summary(project) -> None:
    root, first = project
    assert first.stderr == ""
    assert "Warning" not in first.stdout and "WARNING" not in first.stdout
    steps = [line for line in first.stdout.splitlines() if line.startswith(("✓", "✗"))]
    assert [re.sub(r"\s+[\d.]+ s$", "", line) for line in steps] == [
        f"✓ {name} {DAYS[0]}..{DAYS[-1]}" for name in (*DATA, "features", "drift_report")
    ] + [f"✓ {name}" for name in ("candidate_model", "evaluation_report", "champion")]
    summary = first.stdout[first.stdout.index("\n3 day(s) landed so far"):].strip().splitlines()
    assert summary[:3] == [
        f"3 day(s) landed so far: {DAYS[0]} .. {DAYS[-1]}",
        f"materialized {', '.join((*DATA, 'features', 'drift_report'))} for 3 day(s)",
        "materialized candidate_model, evaluation_report, champion"]
    assert summary[3] == "gate: loans_classifier candidate v1: promoted"
    assert any(line.startswith("  roc_auc ") for line in summary)
    assert f"report: {root}/.assetbook/reports/evaluation_report/v1.html" in summary
    assert summary[-2] == f"state folder: {root}/.assetbook"
    log = Path(summary[-1].removeprefix("full log: "))
    assert LIBRARY_WARNING not in first.stdout
    assert log.parent == root / ".assetbook" / "logs" and LIBRARY_WARNING in log.read_text(), \
        "third-party warnings go to the log"


def run_after_edit(root: Path, code: bool, between: Callable[[], None] = lambda: None
                   ) -> tuple[str, Counter[tuple[str, str | None]]]:
    """Edit the features notebook, call `between`, `assetbook run`: its output and what it
    materialized."""
    before = materializations(root)
    edit_features_notebook(root, code)
    between()
    again = assetbook(root, "run", "--days", str(len(DAYS)), "--no-serve")
    assert again.returncode == 0, again.stdout + again.stderr
    return again.stdout, materializations(root) - before


@pytest.mark.slow
def test_editing_only_outputs_runs_nothing_and_files_not_named_by_a_day_are_not_read(
        project) -> None:
    root = project[0]
    landing = StateFolder.for_project(root).landing("raw_applications")
    strays = [landing / "2024-02-30.parquet", landing / "notes.parquet"]
    for stray in strays:
        shutil.copy(landing / f"{DAYS[0]}.parquet", stray)
    output, ran = run_after_edit(root, code=False)
    assert "everything was already materialized" in output
    assert not output.startswith("\n")  # no step's line to stand apart from
    assert not ran
    for stray in strays:
        assert f"not read: {stray} (a day's file is named after it: 2024-01-03.csv)" in output


@pytest.mark.slow
def test_editing_code_reruns_that_asset_and_everything_below_it(project) -> None:
    """... and `status` said so before: Dagster marks the edited asset alone stale."""
    root, said = project[0], {}

    def status() -> None:
        said.update((a["name"], a) for a in json.loads(assetbook(root, "status", "--json")
                                                        .stdout)["assets"])

    _, ran = run_after_edit(root, code=True, between=status)
    assert ran == Counter({**{(name, day): 1 for name in ("features", "drift_report")
                              for day in DAYS},
                           **{(name, None): 1 for name in BELOW_FEATURES[2:]}})
    assert said["features"]["causes"] == ["has a new code version"]
    assert said["drift_report"]["partitions"]["stale"] == list(DAYS)
    for name in ("drift_report", *BELOW_FEATURES[2:]):
        assert said[name]["data"] == "stale", said[name]
        assert "below features, which `assetbook run` runs first" in said[name]["causes"]
    assert said["raw_applications"]["data"] == said["validated_applications"]["data"] == "fresh"


@pytest.mark.slow
def test_materialize_runs_one_partition_of_what_is_named(project) -> None:
    root, _ = project
    before = materializations(root)
    result = assetbook(root, "materialize", "features", "--partition", DAYS[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert materializations(root) - before == Counter({("features", DAYS[1]): 1})
    assert f"✓ features {DAYS[1]}" in result.stdout
    assert "materialized features for 1 day(s)" in result.stdout

    refused = assetbook(root, "materialize", "featurez")
    assert refused.returncode == 1
    assert refused.stderr.startswith("assetbook: error: no asset named featurez; the project "
                                     "has: raw_applications, ")


@pytest.mark.slow
def test_a_day_whose_last_run_failed_runs_again(project) -> None:
    """A day read before whose next run failed (its file unreadable meanwhile) is neither
    missing nor stale to Dagster, yet shown failed: the next `run` runs it again."""
    root, _ = project
    landed = StateFolder.for_project(root).landing("raw_applications") / f"{DAYS[0]}.parquet"
    good = landed.read_bytes()
    landed.write_bytes(b"PAR1 not a parquet file")
    broken = assetbook(root, "materialize", "raw_applications", "--partition", DAYS[0])
    assert broken.returncode != 0 and "cannot read landed file" in broken.stderr
    assert broken.stderr.startswith("assetbook: error: the one day this run took up failed, "
                                    f"and nothing below ran:\n{DAYS[0]}: "), broken.stderr
    # the summary stands before the error: what is known, where the state and the log are
    assert f"3 day(s) landed so far: {DAYS[0]} .. {DAYS[-1]}" in broken.stdout, broken.stdout
    assert "materialized" not in broken.stdout and "full log: " in broken.stdout
    two = assetbook(root, "materialize", "raw_applications", "--from", DAYS[0], "--to", DAYS[1])
    steps = [re.sub(r"\s+[\d.]+ s$", "", line) for line in two.stdout.splitlines()
             if line.startswith(("✗", "✓", "  a day"))]
    assert steps == [f"✗ raw_applications {DAYS[0]}..{DAYS[1]}",  # said why the days follow
                     f"  a day of {DAYS[0]}..{DAYS[1]} failed: each day again on its own, so "
                     "the good ones go on",
                     f"✗ raw_applications {DAYS[0]}", f"✓ raw_applications {DAYS[1]}"], two.stdout
    landed.write_bytes(good)
    before = materializations(root)
    again = assetbook(root, "run", "--days", str(len(DAYS)), "--no-serve")
    assert again.returncode == 0, again.stdout + again.stderr
    ran = materializations(root) - before
    assert {(name, DAYS[0]) for name in DATA} <= set(ran), ran
    # the third day's data stays (a drift report reads the days before its own); the second's
    # raw_applications ran again beside the broken first
    assert not {key for key in ran if key[0] in (*DATA, "features") and key[1] in DAYS[2:]}, ran
    status = json.loads(assetbook(root, "status", "--json").stdout)
    assert [a["partitions"]["failed"] for a in status["assets"] if a["partitions"]] == [
        [] for a in status["assets"] if a["partitions"]]


def test_a_feature_the_served_transform_lacks_keeps_the_champion(project) -> None:
    """The features notebook makes a column that the bento's transform does not: the model
    learns from it, passes the thresholds, and could not be served. The gate refuses it, so
    the champion alias stays on a model the deployment can serve. The next `run`, with nothing
    new, does not ask the gate again (it would refuse the same candidate, and each scheduled
    run would fail); a new transform of the bento, or a new gate spec, is judged."""
    root, _ = project
    path = root / "notebooks" / "features.ipynb"
    kept = path.read_bytes()
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "make_features(" in c.source)
    cell.source = cell.source.replace(
        'make_features(applications, config["log_money"])',
        'make_features(applications, config["log_money"]).assign(\n'
        '        loan_ratio=lambda f: f["loan"] / f["salary"])')
    nbformat.write(notebook, path)
    champion = champion_version(root)
    spec = root / "assets" / "loans.yaml"
    pipeline = spec.read_text()
    try:
        refused = assetbook(root, "run", "--days", str(len(DAYS)), "--no-serve")
        judged = len(decisions(root))
        again = assetbook(root, "run", "--days", str(len(DAYS)), "--no-serve")
        status = json.loads(assetbook(root, "status", "--json").stdout)
        # each edit kept as the next is made: what changed between two runs is that edit alone
        (root / "project" / "served.py").write_text(
            "from project.features import make_features as same_features  # noqa: F401\n")
        new_transform = run_with_spec(root, lambda assets: assets["bento"]["service"].update(
            transform="project.served:same_features"))
        new_gate = run_with_spec(root, lambda assets: assets["champion"]["gate"].update(
            margin=0.5))
    finally:
        path.write_bytes(kept)
        spec.write_text(pipeline)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert ("refused: not servable: project.features:make_features does not make loan_ratio, "
            "which the model learned from") in refused.stderr
    assert "Dagster" not in refused.stderr, refused.stderr  # said as the gate's reason alone
    assert champion_version(root) == champion
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing new to run" in again.stdout, again.stdout
    assert re.search(r"\ngate: champion: candidate v\d+ refused: not servable: .*loan_ratio.* "
                     r"\(an earlier run's verdict: the gate judges again when new data or code "
                     r"arrives\)\n", again.stdout), again.stdout
    champion_row = next(a for a in status["assets"] if a["name"] == "champion")
    assert champion_row["data"] == "stale" and "not servable" in champion_row["refused"]
    # judged again: a new transform of the bento (a user's attempted fix), a new gate spec
    for regated in (new_transform, new_gate):
        assert regated.returncode == 1 and "✗ champion" in regated.stdout, regated.stdout
    assert "project.served:same_features does not make loan_ratio" in new_transform.stderr
    assert [d["passed"] for d in decisions(root)[judged - 1:]] == [False, False, False]


def run_with_spec(root: Path, edit: Callable[[dict], None]) -> subprocess.CompletedProcess:
    """`run` after `edit` has edited the pipeline file's assets (the edit stays)."""
    spec = root / "assets" / "loans.yaml"
    edited = yaml.safe_load(spec.read_text())
    edit(edited["assets"])
    spec.write_text(yaml.safe_dump(edited, sort_keys=False))
    return assetbook(root, "run", "--days", str(len(DAYS)), "--no-serve")


def test_a_transform_that_lacks_a_feature_builds_no_bento(project) -> None:
    """The bento's transform changed, the champion not: packaging refuses the bento."""
    root, _ = project
    (root / "project" / "served.py").write_text(
        "from project.features import make_features\n\n\n"
        "def without_age(frame, log_money):\n"
        "    return make_features(frame, log_money).drop(columns='age')\n")
    spec = root / "assets" / "loans.yaml"
    kept = spec.read_text()
    spec.write_text(kept.replace("transform: project.features:make_features",
                                 "transform: project.served:without_age"))
    try:
        built = assetbook(root, "materialize", "bento")
    finally:
        spec.write_text(kept)
    champion = champion_version(root)
    assert built.returncode == 1, built.stdout + built.stderr
    assert (f"bento: loans_classifier v{champion} is not servable: project.served:without_age "
            "does not make age, which the model learned from") in built.stderr, built.stderr
    assert ("bento", None) not in materializations(root)


def test_a_day_that_drifted_is_said_in_the_summary(project) -> None:
    """Drift is a WARN check: nothing stops for it, so the command's summary says it."""
    root, _ = project
    day = StateFolder.for_project(root).landing("raw_applications") / f"{DAYS[-1]}.parquet"
    pd.read_parquet(day).assign(age=95).to_parquet(day)  # every applicant 95: within bounds
    drifted = assetbook(root, "materialize", "raw_applications", "validated_applications",
                        "features", "drift_report", "--partition", DAYS[-1])
    assert drifted.returncode == 0, drifted.stdout + drifted.stderr
    assert re.search(rf"\nwarning: drift_report/no_drift: \[{DAYS[-1]}\] age: PSI \d+\.\d+ > ",
                     drifted.stdout), drifted.stdout


def test_materialize_before_any_data_names_what_is_missing(project_dir: Path) -> None:
    """A new project, nothing landed: a daily asset has no day to run on, and a model asset
    fails on its missing input with the store's reason, not Dagster's wrapper."""
    daily = assetbook(project_dir, "materialize", "features")
    assert daily.returncode == 1
    assert "assetbook: error: no partition of features is known yet: land data first" in (
        daily.stderr)
    model = assetbook(project_dir, "materialize", "champion")
    assert model.returncode == 1
    # the step, then Assetbook's own error as it is written, without its class's module path
    assert ("\nchampion: no stored partition of candidate_model among [all]: materialize it "
            "first") in model.stderr
    assert "Traceback" not in daily.stderr + model.stderr
    assert "ArtifactError" not in model.stderr
