"""Assetbook installed from its wheel, as a user without this checkout gets it: `assetbook init`
on daily CSV files of three kinds of data (binary, multiclass, regression) and on the loans
example, then `assetbook run` in each new folder, to a served answer.

The four first runs go one after the other; each test then reads its own. Their searches join
the test process's Ray cluster through $RAY_ADDRESS, as a team's do: a local Ray's start needs
a quieter machine than the suite leaves (Ray 2.60's raylet gives its agents a fixed 15 s), and
it is tested on its own in tests/runners/test_tuning.py. The specs are sped up without
touching what is asserted: the binary and loans projects search with fewer trials
and epochs, the multiclass and regression ones train with fixed hyper-parameters (their
search is the binary one's code on other data), and the metric levels hold on the
evaluation's held-out days with room to spare.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import datasets

from tests.e2e.conftest import WheelEnv
from tests.specs import one_trial_at_a_time, speed_up, without_search

DAYS = 10
TIMEOUT_S = 900
# Sped-up search of the tabular specs: the search only picks lr, hidden and dropout, and the
# candidate still trains its 20 epochs with them.
FASTER_SEARCH = {"num_samples: 4": "num_samples: 2",
                 "trainer: {max_epochs: 6,": "trainer: {max_epochs: 3,"}
SEARCHED = ("binary", "loans")  # the others' first runs train with fixed hyper-parameters


def binary_frame() -> pd.DataFrame:
    """1,500 rows of a separable binary problem, plus an integer and a text column."""
    x, y = datasets.make_classification(n_samples=DAYS * 150, n_features=6, n_informative=4,
                                        n_redundant=0, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(0)
    return frame.assign(visits=rng.integers(0, 20, len(frame)),
                        region=rng.choice(["north", "south", "east"], len(frame)), label=y)


def wine_frame() -> pd.DataFrame:
    return datasets.load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


def diabetes_frame() -> pd.DataFrame:
    """Numbers alone, floats and one integer column: a row of such a table is all floats, and
    the request `init` writes for the deployment's check must keep the integer. A few `bmi`
    values are missing: the schema lets it be empty, the features fill it in, and the served
    API takes a row without it."""
    frame = datasets.load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    frame.loc[frame.sample(frac=0.05, random_state=1).index, "bmi"] = np.nan
    return frame.assign(visits=np.random.default_rng(0).integers(0, 20, len(frame)))


@dataclass(frozen=True)
class Case:
    """A data set, and the level its model must reach on the held-out days. The levels are
    far below what the runs reach (binary roc_auc ~0.95, wine accuracy ~1.0, diabetes r2
    ~0.45, the known level of a linear model on it) and far above a model that learned
    nothing (0.5, ~0.4, 0)."""

    frame: Callable[[], pd.DataFrame]
    target: str
    task: str
    metric: str
    level: float


CASES = {
    "binary": Case(binary_frame, "label", "binary", "roc_auc", 0.8),
    "wine": Case(wine_frame, "cultivar", "multiclass", "accuracy", 0.8),
    "diabetes": Case(diabetes_frame, "progression", "regression", "r2", 0.2),
}


def write_days(frame: pd.DataFrame, folder: Path) -> Path:
    """The rows shuffled and split into DAYS daily CSV files from 2024-01-01."""
    folder.mkdir(parents=True)
    shuffled = frame.sample(frac=1, random_state=0, ignore_index=True)
    for day, rows in enumerate(np.array_split(np.arange(len(shuffled)), DAYS), start=1):
        shuffled.iloc[rows].to_csv(folder / f"2024-01-{day:02d}.csv", index=False)
    return folder


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    init: subprocess.CompletedProcess
    run: subprocess.CompletedProcess | None = None
    seconds: float = 0.0  # of the first run


def assetbook(wheel_env: WheelEnv, project: Project, *args: str,
              timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([str(wheel_env.bin / "assetbook"), *args], cwd=project.root,
                          env=project.env, capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Command:
    cwd: Path
    args: list[str]
    env: dict[str, str]


def run_all(wheel_env: WheelEnv, commands: dict[str, Command], logs: Path,
            at_a_time: int = 1) -> dict[str, tuple[subprocess.CompletedProcess, float]]:
    """`assetbook <args>` for every command, `at_a_time` of them running together; each
    result with its own seconds. Output goes to files: a pipe nobody reads while another
    process is awaited blocks its writer. A pipeline run takes both cores: running several
    at once only starves the tests of the other pytest worker."""
    logs.mkdir(exist_ok=True)
    waiting, running, done = list(commands), {}, {}
    while waiting or running:
        while waiting and len(running) < at_a_time:
            name = waiting.pop(0)
            command = commands[name]
            with (logs / f"{name}.out").open("w") as out, \
                    (logs / f"{name}.err").open("w") as err:
                running[name] = (subprocess.Popen(
                    [str(wheel_env.bin / "assetbook"), *command.args], cwd=command.cwd,
                    env=command.env, stdout=out, stderr=err, start_new_session=True),
                    time.perf_counter())
        time.sleep(1)
        for name, (process, started) in list(running.items()):
            overdue = time.perf_counter() - started > TIMEOUT_S
            if process.poll() is None and not overdue:
                continue
            if process.poll() is None:  # stuck: its whole tree goes (kernels, Ray, servers)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            done[name] = (subprocess.CompletedProcess(
                process.args, process.returncode, (logs / f"{name}.out").read_text(),
                (logs / f"{name}.err").read_text()), time.perf_counter() - started)
            del running[name]
    return done


def speed_up_tabular(spec: Path, search: bool) -> None:
    text = spec.read_text()
    for old, new in FASTER_SEARCH.items():
        assert old in text, "the tabular spec template changed: update FASTER_SEARCH"
        text = text.replace(old, new)
    if search:
        text = one_trial_at_a_time(text, 2)
    else:
        text = yaml.safe_dump(without_search(yaml.safe_load(text)), sort_keys=False)
    spec.write_text(text)


def materialized_model_steps(name: str) -> str:
    return ("materialized " + ("hyperparameters, " if name in SEARCHED else "") +
            "candidate_model, evaluation_report, champion, bento, deployment")


@pytest.fixture(scope="module")
def projects(wheel_env: WheelEnv, tmp_path_factory: pytest.TempPathFactory, shared_ray: str
             ) -> Iterator[dict[str, Project]]:
    """The four projects made and run once, each by the wheel's `assetbook` in a new user's
    environment (its own serving port) with the address of a Ray cluster."""
    parent = tmp_path_factory.mktemp("users")
    folders = {**{name: name for name in CASES}, "loans": "my-loans"}
    envs = {name: {**wheel_env.environ(), "RAY_ADDRESS": shared_ray} for name in folders}
    inits = {name: Command(parent, ["init", name, "--data", str(write_days(
        case.frame(), parent / "exports" / name)), "--target", case.target], envs[name])
        for name, case in CASES.items()}
    inits["loans"] = Command(parent, ["init", "my-loans"], envs["loans"])
    made = {name: Project(parent / folders[name], envs[name], init)
            for name, (init, _) in run_all(wheel_env, inits, parent / "init-logs", 4).items()}
    runs = {}
    for name, project in made.items():
        if project.init.returncode != 0:
            continue
        if name == "loans":
            speed_up(project.root, search=True)
            runs[name] = Command(project.root, ["run", "--days", "3", "--rows", "500"],
                                 project.env)
        else:
            speed_up_tabular(project.root / "assets" / f"{name}.yaml", name in SEARCHED)
            runs[name] = Command(project.root, ["run"], project.env)
    try:
        for name, (run, seconds) in run_all(wheel_env, runs, parent / "run-logs").items():
            made[name].run, made[name].seconds = run, seconds
        yield made
    finally:
        run_all(wheel_env, {name: Command(p.root, ["stop"], p.env) for name, p in made.items()
                            if p.root.is_dir()}, parent / "stop-logs", 4)


def first_run_done(projects: dict[str, Project], name: str) -> Project:
    """The project, once its first run has succeeded (a later test builds on it)."""
    project = projects[name]
    assert project.run is not None and project.run.returncode == 0, project.run
    return project


def served_answer(run: subprocess.CompletedProcess) -> dict:
    """The answer `assetbook run` ends with: `-> {json}` on its last line."""
    last = run.stdout.rstrip().splitlines()[-1]
    assert last.startswith("-> "), run.stdout[-2000:]
    return json.loads(last[3:])


def test_the_wheel_carries_the_templates_and_installs_apart_from_the_checkout(
    wheel_env: WheelEnv, tmp_path: Path
) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel_env.wheel).namelist()
    for name in ("assetbook/templates/loans/project/stream.py",
                 "assetbook/templates/loans/assets/loans.yaml",
                 "assetbook/templates/loans/.github/workflows/assetbook-ci.yml",
                 "assetbook/templates/tabular/pipeline.yaml.tmpl",
                 "assetbook/templates/tabular/features.ipynb",
                 "assetbook/templates/common/tests/test_project.py"):
        assert name in names
    assert not [n for n in names if n.startswith("project/")]  # the example is not a package
    found = wheel_env.python(tmp_path, "import assetbook; print(assetbook.__file__)")
    assert found.stdout.strip() == str(wheel_env.site_packages / "assetbook" / "__init__.py")
    missing = wheel_env.python(tmp_path, "import project")
    assert "ModuleNotFoundError: No module named 'project'" in missing.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_a_project_on_daily_files_ends_with_a_served_answer(
    wheel_env: WheelEnv, projects: dict[str, Project], name: str
) -> None:
    case, project = CASES[name], projects[name]
    assert project.init.returncode == 0, project.init.stderr
    assert f"  assets/{name}.yaml\n" in project.init.stdout
    assert project.init.stdout.rstrip().endswith(f"next: cd {name} && assetbook run")
    assert ("\nit leaves out the text column(s) region: project/features.py can turn them into "
            "numbers\n" in project.init.stdout) == (name == "binary"), project.init.stdout
    assert project.run is not None
    assert project.run.returncode == 0, project.run.stdout[-3000:] + project.run.stderr[-5000:]
    print(f"{name}: first run {project.seconds:.0f} s")
    assert f"{DAYS} day(s) landed so far: 2024-01-01 .. 2024-01-{DAYS}" in project.run.stdout
    assert materialized_model_steps(name) in project.run.stdout

    answer = served_answer(project.run)
    assert answer["model_version"] == "1"
    frame = case.frame()
    if case.task == "regression":
        assert frame[case.target].min() <= answer["value"] <= frame[case.target].max()
        url, body = project.run.stdout.rstrip().splitlines()[-3:-1]
        row = json.loads(body)
        row["row"]["bmi"] = None  # a value the data may miss: the features fill it in
        gap = httpx.post(url.removeprefix("POST "), json=row, timeout=60)
        assert gap.status_code == 200, gap.text
        assert frame[case.target].min() <= gap.json()["value"] <= frame[case.target].max()
    else:
        classes = {str(c) for c in frame[case.target].unique()}
        assert set(answer["probabilities"]) == classes
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
        assert str(answer["label"]) in classes

    report = json.loads((project.root / ".assetbook" / "artifacts" / "evaluation_report" /
                         "all.json").read_text())
    assert report["task"] == case.task
    assert report["candidate"][case.metric] > case.level, report["candidate"]

    # Imports in the project: Assetbook from the wheel, `project` from this folder.
    where = wheel_env.python(project.root, "import assetbook, project; "
                                           "print(assetbook.__file__); print(project.__file__)")
    assert where.stdout.split() == [str(wheel_env.site_packages / "assetbook" / "__init__.py"),
                                    str(project.root / "project" / "__init__.py")]


@pytest.mark.slow
def test_the_loans_example_from_the_wheel_ends_with_a_served_answer(
    projects: dict[str, Project]
) -> None:
    project = projects["loans"]
    assert project.init.returncode == 0, project.init.stderr
    for path in ("project/stream.py", "assets/loans.yaml", "notebooks/features.ipynb",
                 "notebooks/evaluation.ipynb", "workspace.yaml", "pyproject.toml", "README.md",
                 ".gitignore", "tests/test_project.py", ".github/workflows/assetbook-ci.yml"):
        assert f"  {path}\n" in project.init.stdout
        assert (project.root / path).is_file()
    assert project.run is not None
    assert project.run.returncode == 0, project.run.stdout[-3000:] + project.run.stderr[-5000:]
    print(f"loans: first run {project.seconds:.0f} s")
    assert "3 day(s) landed so far: 2024-01-01 .. 2024-01-03" in project.run.stdout
    assert "materialized raw_applications, validated_applications, features, drift_report " \
           "for 3 day(s)" in project.run.stdout
    assert materialized_model_steps("loans") in project.run.stdout
    assert f"state folder: {project.root / '.assetbook'}" in project.run.stdout
    answer = served_answer(project.run)
    assert answer["model_version"] == "1" and set(answer["probabilities"]) == {"0", "1"}
    state = project.root / ".assetbook"
    assert (state / "reports" / "features" / "2024-01-01__2024-01-03.html").exists()
    assert sorted(p.name for p in (state / "artifacts" / "features").iterdir()) == [
        "2024-01-01.parquet", "2024-01-02.parquet", "2024-01-03.parquet"]


@pytest.mark.slow
def test_status_after_the_first_run(wheel_env: WheelEnv, projects: dict[str, Project]) -> None:
    project = first_run_done(projects, "loans")
    table = assetbook(wheel_env, project, "status")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["asset", "last", "materialized", "partitions", "freshness",
                                "data"]
    features = next(line for line in lines if line.startswith("features "))
    assert features.split()[3:] == ["3/3", "PASS", "fresh"]
    assert "model loans_classifier: champion v1" in lines
    assert any(line.startswith("deployment: v1 (") for line in lines)

    # --project from elsewhere reads the same project; --json is the same data for machines.
    machine = subprocess.run([str(wheel_env.bin / "assetbook"), "--project", "my-loans",
                              "status", "--json"], cwd=project.root.parent, env=project.env,
                             capture_output=True, text=True, timeout=120)
    assert machine.returncode == 0, machine.stderr
    status = json.loads(machine.stdout)
    assets = {a["name"]: a for a in status["assets"]}
    assert {a["data"] for a in assets.values()} == {"fresh"}
    assert all(a["last_materialized"] for a in assets.values())
    assert assets["features"]["partitions"] == {"materialized": 3, "total": 3, "failed": [],
                                                "stale": [], "blocked": [], "blocked_by": []}
    assert assets["features"]["freshness"] == "PASS"
    assert assets["champion"]["freshness"] == "PASS"
    assert assets["candidate_model"]["freshness"] is None
    assert status["models"] == [{"name": "loans_classifier", "champion": "1"}]
    assert status["new_days"] == []  # the run registered every landed day
    (served,) = status["served"]
    assert (served["asset"], served["model_version"], served["running"]) == (
        "deployment", "1", True)


@pytest.mark.slow
def test_a_second_run_skips_what_is_done_and_a_new_day_computes_only_that_day(
    wheel_env: WheelEnv, projects: dict[str, Project]
) -> None:
    """After the status test: it adds a day to the loans project."""
    project = first_run_done(projects, "loans")
    again = assetbook(wheel_env, project, "run", "--days", "3")
    assert "everything was already materialized" in again.stdout

    landed = assetbook(wheel_env, project, "simulate", "--days", "1")
    assert landed.stdout.strip() == "landed 1 day(s): 2024-01-04"
    landing = project.root / ".assetbook" / "landing" / "raw_applications"
    (landing / "2024-01-05.csv").write_bytes(b"")  # a broken day beside the good one
    more = assetbook(wheel_env, project, "run", "--days", "5", "--no-serve")
    assert "for 1 day(s)" in more.stdout  # only the new good day is computed
    # the model and its verdict are stale after a new day; the weekly search waits for its
    # schedule or a drifted day, as under `assetbook dev`
    assert "materialized candidate_model, evaluation_report, champion\n" in more.stdout
    assert ("not run: hyperparameters waits for its schedule (0 3 * * 1) or a failed check of "
            "drift_report; new data alone does not run it") in more.stdout, more.stdout
    assert more.returncode == 1  # ... and the broken day is reported, by name
    assert "assetbook: day 2024-01-05 failed and was left out" in more.stderr
    assert "it is empty (0 bytes)" in more.stderr
    with dg.DagsterInstance.from_config(str(project.root / ".assetbook" / "dagster")) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("features")) == {
            "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"}
    # while the broken day stands, the models are as fresh as Dagster says: `run` would only
    # try that day again, and train only if it now succeeds
    said = json.loads(assetbook(wheel_env, project, "status", "--json").stdout)
    assert {a["name"]: a["data"] for a in said["assets"] if a["name"] in (
        "candidate_model", "champion")} == {"candidate_model": "fresh", "champion": "fresh"}
    # the broken day corrected with every applicant 95: it drifts, and the search runs again
    (landing / "2024-01-05.csv").unlink()
    pd.read_parquet(landing / "2024-01-04.parquet").assign(age=95).to_parquet(
        landing / "2024-01-05.parquet", index=False)
    drifted = assetbook(wheel_env, project, "run", "--days", "5", "--no-serve")
    assert drifted.returncode == 0, drifted.stdout + drifted.stderr
    assert "warning: drift_report/no_drift: [2024-01-05] age: PSI" in drifted.stdout
    assert "materialized hyperparameters, candidate_model, evaluation_report, champion\n" in (
        drifted.stdout), drifted.stdout
    assert ("hyperparameters ran, though on a schedule: a check of drift_report failed since "
            "its last run") in drifted.stdout


@pytest.mark.slow
def test_the_simulators_options_are_said_to_be_ignored_where_the_days_are_files(
    wheel_env: WheelEnv, projects: dict[str, Project]
) -> None:
    project = first_run_done(projects, "binary")
    again = assetbook(wheel_env, project, "run", "--days", "3", "--rows", "10", "--no-serve")
    assert again.returncode == 0, again.stdout + again.stderr
    folder = project.root.parent / "exports" / "binary"
    assert (f"--days and --rows ignored: they size simulated days, and raw_data has no "
            f"simulator; its days are the files in {folder}") in again.stdout, again.stdout
    assert f"{DAYS} day(s) landed so far" in again.stdout
    assert "everything was already materialized" in again.stdout
