"""Killed work leaves nothing half-done.

One served project (model v1, made by the real `assetbook run`) goes through the pipeline's
long steps, and each is killed with SIGKILL (its whole process group, as a crash or `kill -9`
of the run would) at a moment detected from its own progress: a notebook whose output is
staged, a training subprocess that is fitting, a Ray Tune search with trials under way, a
bento build in its packaging process, and a deployment whose new server is starting. After
each kill no artifact, alias or served version is half-made (every artifact is the old one
or a complete new one that Dagster recorded; `champion` moves only with a passed gate
decision; deployment.json names what answers); the served model answered every request
throughout; the kill left no process running; and the rerun completes. The kills run in
pipeline order, each rerun being the next kill's run, so the module's tests must run in order
in one process (under xdist: `--dist loadfile` or `loadscope`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import torch

from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.tracking import CANDIDATE, CHAMPION, PREVIOUS, MlflowTracking
from assetbook.resources.versions import VERSIONS_FOLDER
from tests.conftest import BIN
from tests.e2e.test_delivery import Project
from tests.processes import Identity, command_line, identities, processes, still_running, tree
from tests.ray_cluster import cluster_processes
from tests.reliability.ledger import Ledger
from tests.reliability.test_http_fuzz import Traffic, served

pytestmark = pytest.mark.slow

MODEL = "loans_classifier"
DAY = "2024-01-04"  # the day landed after the first run
MODEL_STEPS = ("candidate_model", "evaluation_report", "champion")
STEP_TIMEOUT_S = 300
PLANNED = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
BENTO_SERVER = re.compile(r"-m (bentoml serve|_bentoml_impl\.worker\.service) ")
# Run one asset selection of the project, as `assetbook run` does (same instance, same tags).
MATERIALIZE = """import sys
from pathlib import Path
from assetbook.cli.pipeline import materialize_assets
from assetbook.cli.session import Session
materialize_assets(Session(Path(sys.argv[1])), sys.argv[2:], {})
"""
# Write a product as every step does, and die by SIGKILL halfway through.
KILLED_WRITE = """import os, signal, sys
from pathlib import Path
from assetbook.atomic import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"PAR1 half a parquet file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, shared_ray: str) -> Iterator[Project]:
    """The searches join the test process's Ray cluster, as a team's runs join theirs: the
    killed search's trials must stop there (a killed driver's local Ray goes with it: see
    tests/runners/test_tuning.py)."""
    with served(tmp_path_factory.mktemp("killed"), search=True) as project:
        assert project.assetbook("simulate", "--days", "1").returncode == 0
        yield project


@pytest.fixture(scope="module")
def leftovers() -> Iterator[set[Identity]]:
    """Processes a kill left running (ours: descendants of the killed step); those still
    alive at the end are stopped."""
    known: set[Identity] = set()
    yield known
    for pid in still_running(known):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- the state a kill must not leave half-made ------------------------------------------------


@dataclass(frozen=True)
class State:
    artifacts: dict[str, str]  # path under artifacts/ -> sha256
    aliases: dict[str, str | None]
    decisions: list[dict]  # promotions.jsonl
    deployment: dict  # deployment.json


def serving(project: Project) -> Path:
    """The deployer's folder of the project's one deployment."""
    return project.state / "serving" / "deployment"


def state_of(project: Project) -> State:
    root = project.state / "artifacts"
    artifacts = {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
                 for path in sorted(root.rglob("*")) if path.is_file()}
    registry = MlflowTracking.local(project.state)
    return State(artifacts, {name: registry.alias_version(MODEL, name)
                             for name in (CANDIDATE, CHAMPION, PREVIOUS)},
                 project.decisions(),
                 json.loads((serving(project) / "deployment.json").read_text()))


def materialized(project: Project, asset: str) -> set[str]:
    """Partitions of `asset` that Dagster recorded (`all` for an unpartitioned one)."""
    with dg.DagsterInstance.from_config(str(project.state / "dagster")) as instance:
        key = dg.AssetKey(asset)
        if not instance.get_latest_materialization_event(key):
            return set()
        return set(instance.get_materialized_partitions(key)) or {"all"}


def complete(path: Path) -> bool:
    """Whether an artifact file reads back whole."""
    try:
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
    except Exception:  # any failure to read is what a half-written file looks like
        return False
    return True


def _asset(name: str) -> str:
    """The asset of a stored file: `<asset>/<key>.<suffix>`, or a kept version of it,
    `.versions/<asset>/<key>/<version>.<suffix>`."""
    parts = Path(name).parts
    return parts[1] if parts[0] == VERSIONS_FOLDER else parts[0]


def _partition(name: str) -> str:
    parts = Path(name).parts
    return parts[2] if parts[0] == VERSIONS_FOLDER else Path(name).stem


def half_done(project: Project, before: State, after: State) -> list[str]:
    """What a kill left half-made: a changed or new artifact that does not read back whole
    or that Dagster has no record of, a temporary file where products are, a champion that
    moved without a passed gate decision, a deployment record that moved."""
    root = project.state / "artifacts"
    problems = [f"{name}: in the store but not whole" for name in after.artifacts
                if after.artifacts[name] != before.artifacts.get(name)
                and not complete(root / name)]
    problems += [f"{name}: stored but not recorded by Dagster" for name in after.artifacts
                 if after.artifacts[name] != before.artifacts.get(name)
                 and _partition(name) not in materialized(project, _asset(name))]
    problems += [f"{name}: temporary file among the products" for name in after.artifacts
                 if Path(name).name.startswith(".")]
    problems += [f"{name}: gone" for name in before.artifacts if name not in after.artifacts]
    promoted = {d["candidate"] for d in after.decisions[len(before.decisions):] if d["passed"]}
    if after.aliases[CHAMPION] not in (before.aliases[CHAMPION], *promoted):
        problems.append(f"champion moved to v{after.aliases[CHAMPION]} without passing the gate")
    if after.deployment.get("active") != before.deployment.get("active"):
        problems.append(f"deployment record moved: {after.deployment.get('active')}")
    return problems


# -- kill a step at a moment its own progress shows -------------------------------------------


Progress = Callable[[set[int]], bool]  # given the step's processes: is it there yet?


def appears(folder: Path, pattern: str, written: bool = False) -> Progress:
    """A file matching `pattern` that was not there before (with some content, if
    `written`)."""
    before = set(folder.glob(pattern))
    return lambda _: any(path.stat().st_size or not written
                         for path in set(folder.glob(pattern)) - before)


def running(fragment: str) -> Progress:
    """A process of the step whose command line holds `fragment`."""
    def check(pids: set[int]) -> bool:
        return any(fragment in command_line(pid) for pid in pids)

    return check


@dataclass(frozen=True)
class Kill:
    after_s: float
    survivors: dict[Identity, str]  # processes of the step alive after the kill: command


def start(project: Project, command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, env=project.env, cwd=project.root, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(process: subprocess.Popen, progress: Progress, log: Path) -> Kill:
    """SIGKILL the step's process group once `progress` holds; what it started in sessions
    of their own (servers, kernels, Ray) is not in the group and may outlive it."""
    started = time.monotonic()
    while not progress(pids := tree({process.pid}, processes())):
        assert process.poll() is None, f"the step ended before the kill:\n{log.read_text()[-3000:]}"
        assert time.monotonic() - started < STEP_TIMEOUT_S, log.read_text()[-3000:]
        time.sleep(0.02)
    after_s = time.monotonic() - started
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return Kill(after_s, _outliving(identities(pids - {process.pid})))


def _outliving(known: set[Identity], grace_s: float = 60.0) -> dict[Identity, str]:
    """Those of the known processes still alive, with their commands, once what dies with its
    parent (a kernel, Ray's daemons) has had time to notice; bento servers are meant to
    outlive it."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = {identity: command_line(identity[0]) for identity in identities(
            tree(still_running(known), processes()))}
        if time.monotonic() > deadline or not any(map(lingers, alive.values())):
            return alive
        time.sleep(0.2)


def lingers(command: str) -> bool:
    """Whether a process of a killed step should have died with it."""
    return not BENTO_SERVER.search(command)


def assetbook_run(project: Project) -> list[str]:
    return [str(BIN / "assetbook"), "--project", str(project.root), "run", "--days", "4"]


def materialize(project: Project, *assets: str) -> list[str]:
    return [sys.executable, "-c", MATERIALIZE, str(project.root), *assets]


@dataclass(frozen=True)
class Outcome:
    kill: Kill
    before: State
    after: State
    served: set[str]  # model versions that answered meanwhile
    failed: list[tuple[int, str]]  # requests that did not get a 200 meanwhile


def rerun(project: Project, command: list[str], log: Path) -> None:
    process = start(project, command, log)
    assert process.wait(timeout=STEP_TIMEOUT_S) == 0, log.read_text()[-3000:]


@dataclass
class Killer:
    """Runs a step under known-good traffic, kills it at a moment of its progress, and
    enters the kill in the ledger."""

    project: Project
    ledger: Ledger
    log: Path
    leftovers: set[Identity]

    def __call__(self, command: list[str], progress: Progress) -> Outcome:
        before = state_of(self.project)
        with Traffic(self.project.url) as traffic:
            kill = kill_when(start(self.project, command, self.log), progress, self.log)
        self.leftovers |= kill.survivors.keys()
        outcome = Outcome(kill, before, state_of(self.project), traffic.versions,
                          traffic.failures)
        self._record(outcome)
        return outcome

    def _record(self, outcome: Outcome) -> None:
        """What the kill destroyed of the stored data, and what it let through unvetted (a
        champion or a served version that no passed gate decision names)."""
        root = self.project.state / "artifacts"
        lost = [name for name in outcome.before.artifacts
                if not (root / name).exists() or not complete(root / name)]
        promoted = {d["candidate"] for d in outcome.after.decisions if d["passed"]}
        unvetted = {outcome.after.aliases[CHAMPION], *outcome.served} - promoted
        self.ledger.record("killed work", cases=1, faults=1, data_lost=len(lost),
                           bad_promoted=len(unvetted))


@pytest.fixture
def kill(project: Project, ledger: Ledger, leftovers: set[Identity], tmp_path: Path
         ) -> Killer:
    return Killer(project, ledger, tmp_path / "run.log", leftovers)


def check(project: Project, outcome: Outcome, serving: str) -> None:
    """Nothing half-made, `serving` answered every request, nothing of the step lives on
    but a bento server it started (in a session of its own: the next deployer settles it)."""
    assert not half_done(project, outcome.before, outcome.after), half_done(
        project, outcome.before, outcome.after)
    assert outcome.served == {serving} and not outcome.failed, (outcome.served,
                                                                 outcome.failed[:5])
    lingering = {pid: command for pid, command in outcome.kill.survivors.items()
                 if lingers(command)}
    assert not lingering, f"the kill left these running: {lingering}"


# -- the kills, in pipeline order -------------------------------------------------------------


def test_killed_notebook(project: Project, kill: Killer) -> None:
    """`assetbook run` for the new day, killed once the features notebook staged its output
    (done computing, nothing stored yet)."""
    staging = project.state / "staging" / "features"
    outcome = kill(assetbook_run(project), appears(staging, f"*-{DAY}.parquet"))
    check(project, outcome, "1")
    assert DAY not in materialized(project, "features")


def test_killed_training(project: Project, kill: Killer) -> None:
    """`assetbook run` again: it completes the day, then is killed while the training
    subprocess fits."""
    outcome = kill(assetbook_run(project), running("assetbook.runners.training.script"))
    check(project, outcome, "1")
    assert DAY in materialized(project, "features")
    assert outcome.after.aliases == outcome.before.aliases


def test_killed_bento_build(project: Project, kill: Killer) -> None:
    """The model steps again: v2 is trained, scored and promoted, then the run is killed
    while BentoML packages it."""
    outcome = kill(materialize(project, *MODEL_STEPS, "bento"),
                   running("assetbook.runners.serving.packaging"))
    check(project, outcome, "1")
    assert outcome.after.aliases[CHAMPION] == "2"  # promoted by the gate before the kill
    assert stored(project, "bento")["model_version"] == "1"


def test_killed_deployment_switch(project: Project, kill: Killer, tmp_path: Path) -> None:
    """The bento again, then the deployment, killed while v2's server starts beside v1's
    (it has begun to log); rerun, v2 serves and only its server is left."""
    outcome = kill(materialize(project, "bento", "deployment"),
                   appears(serving(project) / "logs", "bento-*.log", written=True))
    check(project, outcome, "1")
    assert stored(project, "bento")["model_version"] == "2"

    rerun(project, materialize(project, "deployment"), tmp_path / "rerun.log")
    assert project.served_version() == "2"
    assert bento_servers(project) == {state_of(project).deployment["active"]["pid"]}
    assert not still_running(outcome.kill.survivors), "the killed switch's server"


def test_killed_search(project: Project, kill: Killer, tmp_path: Path, shared_ray: str) -> None:
    """The hyper-parameter search, killed once Ray Tune has trials under way on the cluster;
    its trials stop there (they would hold the cluster's CPUs for nobody); then rerun."""
    results = project.state / "ray_results"
    trial_started = appears(results, "hyperparameters-*/*/params.json")
    outcome = kill(materialize(project, "hyperparameters"),
                   lambda pids: trial_started(pids) and bool(trials(shared_ray)))
    check(project, outcome, "2")
    deadline = time.monotonic() + 60
    while trials(shared_ray) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not trials(shared_ray), f"the killed search's trials run on: {trials(shared_ray)}"
    rerun(project, materialize(project, "hyperparameters"), tmp_path / "rerun.log")
    assert stored(project, "hyperparameters")["window"][-1] == "2024-01-02"  # the new window


def test_killed_write_leaves_no_product(project: Project, ledger: Ledger) -> None:
    """A write killed inside `atomic_path` leaves its temporary beside the products (the
    cleanup never runs): the store must not list it as a partition, or the next drift
    report would read it as one of its reference days."""
    folder = project.state / "artifacts" / "features"
    product = folder / "2024-01-09.parquet"
    writer = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(product)], check=False)
    assert writer.returncode == -signal.SIGKILL
    temporaries = [path for path in folder.iterdir() if path.name.startswith(".")]
    assert temporaries, "the killed write left nothing: nothing to check"
    try:
        keys = ArtifactIOManager(root=str(project.state / "artifacts")).stored(
            dg.AssetKey("features"))
        ledger.record("killed work", cases=1, faults=1)
        assert sorted(keys) == sorted(materialized(project, "features")), keys
    finally:
        for path in temporaries:
            path.unlink()


def test_killed_runs_are_not_left_running(project: Project) -> None:
    """After the kills above, no run may stay STARTED in the instance: nothing executes it
    any more, yet Dagster's automation counts its assets as in progress (the latest run
    that planned them) and, since eager requires `~in_progress`, never requests them again."""
    with dg.DagsterInstance.from_config(str(project.state / "dagster")) as instance:
        started = instance.get_run_records(dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
        planned = {record.dagster_run.run_id[:8]: sorted({
            entry.dagster_event.asset_key.to_user_string() for entry in instance.all_logs(
                record.dagster_run.run_id, of_type=PLANNED)
            if entry.dagster_event and entry.dagster_event.asset_key}) for record in started}
    assert not planned, f"killed runs still STARTED: {planned}"


def trials(address: str) -> dict[int, str]:
    """Ray Tune trials running on the cluster (a function trainable's actor)."""
    return {pid: command for pid, command in cluster_processes(address).items()
            if command.startswith("ray::") and "ImplicitFunc" in command}  # maybe qualified


def stored(project: Project, asset: str) -> dict:
    return json.loads((project.state / "artifacts" / asset / "all.json").read_text())


def bento_servers(project: Project) -> set[int]:
    """`bentoml serve` processes started by this project's deployer (they run in its
    serving folder)."""
    folder = str(serving(project))
    return {pid for pid in processes() if "-m bentoml serve " in command_line(pid)
            and _cwd(pid) == folder}


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""
