"""A step past its spec's `timeout` fails naming what was running, and leaves no process:
a hung notebook (a percent-format .py), a training, a Ray Tune search; through Dagster."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import psutil

from assetbook.resources.state import StateFolder
from tests.conftest import build_defs, failure_messages, materialize, write_spec
from tests.ray_cluster import private_ray

SPEC = """
pipeline: stuck
partitions:
  days: {{type: daily, start: 2024-03-01, end: 2024-03-03}}
assets:
  applications:
    kind: source
    partitions: days
    source: {{type: generator, generator: project.stream:loan_day, rows: 200}}
  hung:
    kind: notebook
    partitions: days
    notebook: notebooks/hung.py
    inputs: {{applications: same}}
    config: {{pids: {pids}}}
    timeout: 5
  search:
    kind: tune
    inputs: {{applications: {{mapping: window, size: 2}}}}
    model: project.models:LoanClassifier
    trainer: {{max_epochs: 100000, batch_size: 32}}
    search: {{space: {{hidden: {{type: choice, values: [8, 16]}}}}, num_samples: 2}}
    timeout: 10
  model:
    kind: train
    inputs: {{applications: {{mapping: window, size: 2}}}}
    model: project.models:LoanClassifier
    trainer: {{max_epochs: 100000, batch_size: 32}}
    timeout: 5
"""
HUNG = """\
# %% tags=["parameters"]
partitions = []
config = {"pids": "pids.txt"}

# %%
import os, pathlib, subprocess, time
child = subprocess.Popen(["sleep", "600"])
pathlib.Path(config["pids"]).write_text(f"{os.getpid()} {child.pid}")

# %%
while True:
    time.sleep(1)
"""
# On top of a timeout: a kernel's or a training's start on a loaded 2-core machine; Ray's
# start took 45 s there, before Tune's trials started and were stopped.
MARGIN_S, RAY_MARGIN_S = 60, 150


def project(root: Path) -> dg.Definitions:
    write_spec(root, SPEC.format(pids=root / "pids.txt"))
    (root / "notebooks" / "hung.py").write_text(HUNG)
    return build_defs(root)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def running(needle: str, descendants_only: bool) -> list[str]:
    """Live processes whose command line holds `needle`: among this test's descendants, or
    anywhere (an orphan's parent is gone, so it is no one's descendant)."""
    candidates = (psutil.Process().children(recursive=True) if descendants_only
                  else psutil.process_iter())
    found = []
    for process in candidates:
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:  # gone meanwhile, or not ours
            continue
        if needle in command and alive(process.pid):
            found.append(f"{process.pid}: {command}")
    return found


def timed_run(defs: dg.Definitions, instance: dg.DagsterInstance, asset: str,
              keys: list[str] | None) -> tuple[str, float]:
    started = time.monotonic()
    result = materialize(defs, instance, [asset], keys)
    assert not result.success
    return failure_messages(result), time.monotonic() - started


def test_hung_notebook_fails_at_its_timeout_naming_the_cell_and_its_kernel_is_gone(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    defs = project(project_dir)
    assert materialize(defs, instance, ["applications"], ["2024-03-01"]).success
    message, seconds = timed_run(defs, instance, "hung", ["2024-03-01"])

    assert seconds < 5 + MARGIN_S
    assert "asset 'hung' (2024-03-01): timed out after 5 s (the spec's `timeout`" in message
    assert "notebook hung.py was running cell 4; its kernel is shut down" in message
    assert "--- cell source ---\nwhile True:\n    time.sleep(1)\n" in message
    kernel, child = map(int, (project_dir / "pids.txt").read_text().split())
    assert not alive(kernel) and not alive(child)
    assert not running("ipykernel", descendants_only=True)
    reports = state.reports / "hung"  # kept, with the outputs up to the hung cell
    assert (reports / "2024-03-01.ipynb").exists() and (reports / "2024-03-01.html").exists()


def test_training_past_its_timeout_fails_and_its_process_is_gone(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    defs = project(project_dir)
    for day in ("2024-03-01", "2024-03-02"):
        assert materialize(defs, instance, ["applications"], [day]).success
    message, seconds = timed_run(defs, instance, "model", None)

    assert seconds < 5 + MARGIN_S
    assert "asset 'model': timed out after 5 s (the spec's `timeout`" in message
    assert "the training processes are stopped; log" in message
    assert not running(str(state.root / "training" / "model"), descendants_only=False)


def test_search_past_its_timeout_stops_its_trials(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    defs = project(project_dir)
    for day in ("2024-03-01", "2024-03-02"):
        assert materialize(defs, instance, ["applications"], [day]).success
    with private_ray():  # its own local Ray, which must be gone after
        message, seconds = timed_run(defs, instance, "search", None)

    assert seconds < 10 + RAY_MARGIN_S  # 100,000 epochs each: only stopped trials end so soon
    assert "search 'search-" in message and "timed out after 10 s" in message
    assert "Tune stopped its trials" in message
    assert not running("ray", descendants_only=True)  # trials, raylet, GCS
