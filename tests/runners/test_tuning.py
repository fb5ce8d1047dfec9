"""Ray Tune for real, on a cluster started with `ray start --head` (the session's, see
tests/ray_cluster.py). A search's own local Ray (a new user's, without $RAY_ADDRESS) is tested
here, started again after a start that timed out and gone with a killed driver, and by the
search past its timeout (tests/graph/test_timeouts.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from assetbook.errors import AssetbookError
from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.tuning import TuneJob, ray_session, search
from assetbook.spec.models import SearchSpec, TrainerSpec
from tests.conftest import REPO, write_days
from tests.processes import command_line, identities, processes, still_running, tree
from tests.ray_cluster import local_ray_environment

pytestmark = pytest.mark.usefixtures("shared_ray")

SPACE = {"lr": {"type": "loguniform", "low": 1e-4, "high": 3e-2},
         "hidden": {"type": "choice", "values": [16, 64]}}


def tune_job(tmp_path: Path, space: dict = SPACE, address: str | None = None) -> TuneJob:
    paths = write_days(tmp_path / "data", 2, rows=800)
    training = TrainingJob("project.models:LoanClassifier", "label", tuple(paths),
                           TrainerSpec(max_epochs=4, batch_size=128))
    search_spec = SearchSpec(space=space, num_samples=4, max_concurrent_trials=2, seed=3)
    return TuneJob(training, search_spec, "test", tmp_path / "ray_results", ray_address=address)


@pytest.mark.slow
def test_asha_stops_weak_trials_early(tmp_path: Path) -> None:
    lines: list[str] = []
    result = search(tune_job(tmp_path), report=lines.append)
    assert [line.split(",")[0] for line in lines] == [f"trial {i} of 4 ended" for i in
                                                       range(1, 5)]
    assert lines[-1].endswith(f"best val_loss {result.best_metric:.4f}")
    assert len(result.trials) == 4 and not any(t["error"] for t in result.trials)
    assert result.stopped_early >= 1
    assert result.total_epochs < 4 * 4
    assert set(result.best_config) == {"lr", "hidden"}
    assert 1e-4 <= result.best_config["lr"] <= 3e-2 and result.best_config["hidden"] in (16, 64)
    best = min(t["val_loss"] for t in result.trials)
    assert result.best_metric == pytest.approx(best)
    assert (tmp_path / "ray_results" / "test").is_dir()


def test_space_the_model_rejects_fails_before_any_trial(tmp_path: Path) -> None:
    job = tune_job(tmp_path, space={"momentum": {"type": "uniform", "low": 0.1, "high": 0.9}})
    with pytest.raises(AssetbookError, match=r"rejects hyperparameters \['momentum'\]"):
        search(job)
    assert not (tmp_path / "ray_results").exists()  # no trial started


@pytest.mark.slow
def test_when_every_trial_fails_the_cause_comes_first_without_colour_codes(
        tmp_path: Path) -> None:
    """A model that cannot be built with what the search picked fails in each trial, inside
    Ray's own (coloured) traceback."""
    job = tune_job(tmp_path, space={"dropout": {"type": "choice", "values": [2.0]}})
    job = replace(job, search=job.search.model_copy(update={"num_samples": 1}))
    with pytest.raises(AssetbookError) as failed:
        search(job)
    message = str(failed.value)
    assert message.splitlines()[0] == ("every trial failed; first error: ValueError: dropout "
                                       "probability has to be between 0 and 1, but got 2.0")
    assert "\x1b" not in message and 'File "' in message  # the traceback follows


DRIVER = """
import json, sys
from pathlib import Path
from assetbook.runners.tuning import search
from tests.runners.test_tuning import tune_job
result = search(tune_job(Path(sys.argv[1]), address=sys.argv[2]))
print(json.dumps({"cluster": result.cluster, "trials": result.trials}))
"""


@pytest.mark.slow
def test_joins_an_existing_cluster_through_its_address(tmp_path: Path, shared_ray: str) -> None:
    """A cluster started by `ray start --head` on loopback (the session's, see
    tests/ray_cluster.py); a separate driver process joins it by address."""
    driver = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path), shared_ray],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert driver.returncode == 0, driver.stderr[-3000:]
    result = json.loads(driver.stdout.strip().splitlines()[-1])
    assert result["cluster"] == shared_ray
    assert len(result["trials"]) == 4 and not any(t["error"] for t in result["trials"])


def test_a_ray_session_leaves_breakpoint_as_it_found_it(shared_ray: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """ray.init points PYTHONBREAKPOINT at Ray's debugger; once the session ends, the processes
    this one starts (a training, a notebook's kernel, a server) get the user's own
    `breakpoint()`."""
    monkeypatch.setenv("PYTHONBREAKPOINT", "pdb.set_trace")
    with ray_session(shared_ray):
        assert os.environ["PYTHONBREAKPOINT"].startswith("ray.util.rpdb")  # Ray's, meanwhile
    assert os.environ["PYTHONBREAKPOINT"] == "pdb.set_trace"


def test_the_progress_callback_pickles_without_the_steps_logger() -> None:
    """Tune pickles its callbacks with the experiment; a Dagster step's logger cannot be."""
    import cloudpickle

    from assetbook.runners.tuning import _trial_progress

    class StepLog:
        lines: list[str] = []

        def __reduce__(self) -> tuple:
            raise TypeError("logger cannot be pickled")

        def info(self, line: str) -> None:
            self.lines.append(line)

    log = StepLog()
    progress = _trial_progress(log.info, SearchSpec(space=SPACE, num_samples=2))
    progress.on_trial_complete(0, [], type("Trial", (), {"last_result": {"val_loss": 0.5}}))
    cloudpickle.loads(cloudpickle.dumps(progress)).on_trial_error(1, [], None)
    assert log.lines == ["trial 1 of 2 ended, best val_loss 0.5000"]


def test_trials_are_tracked_and_those_the_budget_stopped_end_killed(tmp_path: Path) -> None:
    """Against a real MLflow store: one run per trial with its config, each result at its
    epoch (a NaN too), FINISHED when it completes, KILLED when the search's time budget
    stopped it (Tune then calls neither trial end), and no run for a trial that never
    started."""
    import cloudpickle
    from mlflow import MlflowClient

    from assetbook.runners.trial_tracking import trial_tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = cloudpickle.loads(cloudpickle.dumps(  # as Tune keeps it
        trial_tracking(uri, "search", {"mlflow.parentRunId": "parent"})))

    def trial(name: str) -> object:
        return type("Trial", (), {"trial_id": name, "config": {"lr": 0.1, "hidden": 8},
                                  "__str__": lambda self: f"_trial_{name}"})()

    done, stopped, never = trial("a"), trial("b"), trial("c")
    for each in (done, stopped):
        tracking.on_trial_start(0, [], each)
    for epoch, loss in ((1, 0.7), (2, float("nan"))):
        tracking.on_trial_result(0, [], done, {"val_loss": loss, "training_iteration": epoch,
                                               "config": {"lr": 0.1}, "done": False})
    tracking.on_trial_result(0, [], stopped, {"val_loss": 0.9, "training_iteration": 1})
    tracking.on_trial_complete(0, [], done)
    tracking.on_trial_error(0, [], never)  # its process never started: nothing to end
    tracking.on_experiment_end([done, stopped, never])

    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in client.search_runs(
        [client.get_experiment_by_name("search").experiment_id])}
    assert {name: r.info.status for name, r in runs.items()} == {
        "_trial_a": "FINISHED", "_trial_b": "KILLED"}
    assert runs["_trial_a"].data.params == {"lr": "0.1", "hidden": "8"}
    assert runs["_trial_a"].data.tags["mlflow.parentRunId"] == "parent"
    history = client.get_metric_history(runs["_trial_a"].info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2] and history[0].value == 0.7
    assert history[1].value != history[1].value  # NaN, kept
    assert "config/lr" not in runs["_trial_a"].data.metrics  # parameters, not metrics


SLOW_AGENT = """
import os, sys, time
MARK = {mark!r}
if sys.argv[0].endswith(os.path.join("dashboard", "agent.py")) and not os.path.exists(MARK):
    with open(MARK, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(600)
"""

RETRIED = """
import os, ray
from assetbook.runners.tuning import ray_session
with ray_session(None) as local:
    print(local, ray.cluster_resources()["CPU"])
print(os.environ.get("RAY_AUTH_MODE"), os.environ.get("PYTHONBREAKPOINT"))
"""


@pytest.mark.slow
def test_a_local_ray_whose_start_times_out_starts_again(tmp_path: Path) -> None:
    """The first start's metrics agent hangs (as agents importing on a loaded machine are
    late): its raylet gives up on it and Ray's start times out. The search's Ray starts again
    and runs; once it ends, no Ray setting is left in the process's environment."""
    slow = tmp_path / "slow"
    (tmp_path / "sitecustomize.py").write_text(SLOW_AGENT.format(mark=str(slow)))
    env = {name: value for name, value in local_ray_environment(str(tmp_path)).items()
           if name not in ("RAY_AUTH_MODE", "PYTHONBREAKPOINT")}
    try:
        driver = subprocess.run([sys.executable, "-c", RETRIED], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300)
    finally:
        agent = int(slow.read_text()) if slow.exists() else 0
        if agent and "agent.py" in command_line(agent):  # hung, orphaned by its raylet
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent, signal.SIGKILL)
    assert slow.exists(), "the first start's agent did not hang"
    assert driver.returncode == 0, driver.stderr[-3000:]
    assert driver.stdout.split()[0] == "True" and float(driver.stdout.split()[1]) > 0
    assert driver.stdout.splitlines()[-1] == "None None"


RECORDING_MODEL = """
import json, os, ray
from project.models import LoanClassifier
class Recording(LoanClassifier):
    def __init__(self, n_features: int, lr: float = 3e-3) -> None:
        super().__init__(n_features, lr=lr)
        with open(os.environ["ASSETBOOK_TEST_RUNTIME_ENV"], "w") as out:
            json.dump(ray.get_runtime_context().runtime_env, out)
"""

STOPPED = """
import contextlib, json, sys, threading, psutil
from pathlib import Path
from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.tuning import TuneJob, search
from assetbook.spec.models import SearchSpec, TrainerSpec
started, ended = {}, threading.Event()
def watch():  # every process under this one while the search runs
    while not ended.is_set():
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker renames itself
                started[process] = " ".join(process.cmdline())
        ended.wait(0.1)
watcher = threading.Thread(target=watch)
watcher.start()
training = TrainingJob("recording:Recording", "label", tuple(json.loads(sys.argv[2])),
                       TrainerSpec(max_epochs=1, batch_size=128))
space = {"lr": {"type": "loguniform", "low": 1e-3, "high": 3e-2}}
try:
    search(TuneJob(training, SearchSpec(space=space, num_samples=1), "stopped",
                   Path(sys.argv[1])))
finally:
    ended.set()
    watcher.join()
def running(process):  # the same process: a busy machine reuses a pid within seconds
    with contextlib.suppress(psutil.Error):
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    return False
# A killed worker may still be exiting (unmapping its memory: no command line, not yet a
# zombie) as the search returns on a loaded machine; what still runs after 10 s lives on.
_, left = psutil.wait_procs([process for process in started if running(process)], timeout=10)
alive = [f"{process.pid}: {started[process]}" for process in left if running(process)]
print(json.dumps({"started": list(started.values()), "alive": alive}))
"""


@pytest.mark.slow
def test_a_local_rays_trials_start_without_a_runtime_env_and_it_stops_whole(
        tmp_path: Path) -> None:
    """A search's trial process starts without the runtime env Tune would give it (whose start
    goes through Ray's runtime-env agent, ~1.2 s). When the search ends, every process its
    local Ray started has ended (or is ending), the trial's and the autoscaler monitor
    (killed ahead of Ray's own stop, which waits a second for it) among them, when it ran."""
    (tmp_path / "recording.py").write_text(RECORDING_MODEL)
    recorded = tmp_path / "runtime_env.json"
    env = {name: value for name, value in local_ray_environment(str(tmp_path)).items()
           if not name.startswith("AWS_")}  # credentials, which Tune would pass on
    env["ASSETBOOK_TEST_RUNTIME_ENV"] = str(recorded)
    paths = write_days(tmp_path / "data", 1, rows=300)
    driver = subprocess.run([sys.executable, "-c", STOPPED, str(tmp_path / "results"),
                             json.dumps(paths)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert driver.returncode == 0, driver.stderr[-3000:]
    session = json.loads(driver.stdout.splitlines()[-1])
    assert json.loads(recorded.read_text()) == {}
    # what the watcher saw was the local Ray: its GCS and raylet, and the trial's process.
    # (The autoscaler monitor is usually among them; one loaded CI run did not see it, for a
    # reason not found: Ray's, or the watcher's 0.1 s.)
    for name in ("gcs_server", "raylet", "ray::"):
        assert any(name in line for line in session["started"]), (name, session["started"])
    assert session["alive"] == []


HELD = """
import time
from assetbook.runners.tuning import ray_session
with ray_session(None) as local:
    print(local, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_driver_takes_its_local_ray_with_it() -> None:
    """A run killed with SIGKILL (its process group, as `kill -9` of a run does) leaves none
    of its local Ray running: the daemons in sessions of their own notice and exit."""
    driver = subprocess.Popen([sys.executable, "-c", HELD], cwd=REPO,
                              env=local_ray_environment(), stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "True"
        ray = identities(tree({driver.pid}, processes()) - {driver.pid})
        assert len(ray) >= 3, "a GCS, a raylet and its agents"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 60
    while (alive := still_running(ray)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, f"the killed driver's Ray runs on: {alive}"
