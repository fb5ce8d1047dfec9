"""Shared fixtures: a copy of the default project in a temporary folder, with its own state
folder and a real (temporary) Dagster instance."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assetbook.resources.state import STATE_ENV, StateFolder
from assetbook.spec.loader import ProjectSpec, load_project
from tests.ports import free_port

# The session's Ray cluster, for the modules that use it (tests/ray_cluster.py).
pytest_plugins = ["tests.ray_cluster", "tests.services"]

# Three test workers share two cores: one thread per process. With a thread per core, torch's
# OpenMP threads wait on each other's turns (30% more CPU for a fit on a loaded machine).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
# Commands of the environment under test, called by absolute path: the tests see what a user
# sees who runs `make run` without activating the virtual environment.
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _own_mlflow_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's state folder holds its own MLflow store: no inherited tracking URI."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default project (specs, notebooks) copied into tmp, with state under tmp."""
    root = copy_example(tmp_path / "proj")
    monkeypatch.setenv(STATE_ENV, str(root / ".assetbook"))
    monkeypatch.setenv("ASSETBOOK_SERVE_PORT", str(free_port()))
    return root


EXAMPLE = ("assets", "notebooks", "bentos", "project")


def copy_example(root: Path) -> Path:
    """This repository's own project (the loans example) copied into `root`, as `assetbook
    init` would lay it out."""
    for folder in EXAMPLE:
        shutil.copytree(REPO / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    return root


@pytest.fixture
def state(project_dir: Path) -> StateFolder:
    return StateFolder.for_project(project_dir)


@pytest.fixture
def spec(project_dir: Path) -> ProjectSpec:
    return load_project(project_dir)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def write_spec(root: Path, text: str, name: str = "loans.yaml") -> Path:
    path = root / "assets" / name
    path.write_text(text)
    return path


def build_defs(root: Path) -> dg.Definitions:
    from assetbook.graph import build_definitions

    return build_definitions(load_project(root), StateFolder.for_project(root))


def land(root: Path, days: int, rows: int = 400) -> list[str]:
    """Land `days` simulated days into the default landing folder; returns their keys."""
    from datetime import date

    from assetbook.runners.simulator import land_days
    from project.stream import LoanStream

    folder = StateFolder.for_project(root).landing("raw_applications")
    stream = LoanStream(rows_per_partition=rows, seed=7)
    return [p.stem for p in land_days(folder, stream.generate, date(2024, 1, 1), days)]


def materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[str],
    keys: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `selection` for one key, a range of keys (first..last), or unpartitioned,
    in a run with `tags`."""
    tags = dict(tags or {})
    if keys and len(keys) > 1:
        tags |= {"dagster/asset_partition_range_start": keys[0],
                 "dagster/asset_partition_range_end": keys[-1]}
    instance.add_dynamic_partitions("days", [k for k in keys or []
                                             if not instance.has_dynamic_partition("days", k)])
    return dg.materialize(
        list(defs.assets or []), selection=selection, instance=instance,
        resources=defs.resources, partition_key=keys[0] if keys and len(keys) == 1 else None,
        tags=tags, raise_on_error=False,
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(
        (e.step_failure_data.error.to_string() if e.step_failure_data and
         e.step_failure_data.error else e.message or "")
        for e in result.all_events if e.is_step_failure
    )


DATA = ["raw_applications", "validated_applications", "features"]

SESSION_START = datetime.now(UTC)


def evaluate_automation(defs: dg.Definitions, instance: dg.DagsterInstance,
                        cursor: Any = None, at: datetime = SESSION_START) -> Any:
    """One automation tick, by default at the session's start: no cron ticks between a
    test's evaluations, whatever the clock says (the tuning's, Mondays at 03:00, did)."""
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                             evaluation_time=at)


def requested(result: Any, assets: list[str]) -> dict[str, set[str | None]]:
    """Which partitions of `assets` an automation evaluation requested (None: unpartitioned)."""
    return {key.to_user_string(): set(result.get_requested_partitions(key))
            for key in (dg.AssetKey(a) for a in assets) if result.get_num_requested(key)}


def write_days(folder: Path, days: int, rows: int = 1000, **stream: object) -> list[str]:
    """Parquet files of generated days (feature-like frames) for training tests."""
    from project.stream import LoanStream

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for day in range(1, days + 1):
        path = folder / f"2024-01-{day:02d}.parquet"
        LoanStream(rows_per_partition=rows, **stream).generate(path.stem).to_parquet(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def session_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file every pytest session started below this test appends to (see pytest_configure):
    it stays absent unless something re-launches the test suite."""
    path = tmp_path / "sessions.log"
    monkeypatch.setenv("ASSETBOOK_TEST_SESSION_LOG", str(path))
    return path


# pytest-xdist (`--dist loadfile --no-loadscope-reorder`) hands whole files to the workers
# in collection order, so the longest files go first and the short ones fill in at the end
# (seconds of each in a clean-clone run on 3 workers, 2026-12-05). xdist's own order (most
# tests first) put the one-test loop file last, and one worker idled for minutes while another
# finished it. test_tuning, which starts local Rays, stays behind the heaviest modules.
LONGEST_FIRST = ("tests/e2e/test_delivery.py",  # 543
                 "tests/e2e/test_wheel.py",  # 443
                 "tests/reliability/test_killed_work.py",  # 325
                 "tests/reliability/test_restart.py",  # 281
                 "tests/e2e/test_automation_loop.py",  # 212
                 "tests/e2e/test_data_versions.py",  # 163
                 "tests/e2e/test_live_retraining.py",  # 132
                 "tests/serving/test_bento_export.py",  # 129
                 "tests/e2e/test_ci.py",  # 116
                 "tests/e2e/test_freshness.py",  # 116
                 "tests/e2e/test_alerts.py",  # 110
                 "tests/runners/test_tuning.py",  # 119
                 "tests/graph/test_automation.py",  # 108
                 "tests/reliability/test_http_fuzz.py",  # 101
                 "tests/runners/test_training.py",  # 100
                 "tests/e2e/test_run_command.py",  # 88
                 "tests/reliability/test_bad_data.py",  # 72
                 "tests/graph/test_model_assets.py", "tests/graph/test_timeouts.py",
                 "tests/graph/test_landing.py", "tests/notebook_loop/test_notebook_command.py",
                 "tests/runners/test_evaluation_notebook.py", "tests/e2e/test_ui_browser.py",
                 "tests/runners/test_kernels.py", "tests/e2e/test_dagster_dev.py",
                 "tests/notebook_loop/test_load.py")  # 49 .. 24


# After those: the modules that start clusters of their own, each spawning a dozen processes,
# whose load beside the first modules made local Rays fail to start (Ray 2.60's raylet waits a
# fixed 15 s for its metrics agent, which imported for longer at load 10 on 2 cores). The
# short files come last, beside them: when these came last, two workers idled for the last
# 4 minutes. It gained nothing measurable (30m37s against 29m59s and 30m22s): beside the short
# files the shared profile's set-up took 225 s instead of 130 s.
CLUSTERS = ("tests/e2e/test_shared_profile.py",  # 226
            "tests/runners/test_training_on_ray.py")  # 117


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: position for position, path in enumerate((*LONGEST_FIRST, *CLUSTERS))}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_configure(config: pytest.Config) -> None:
    if log := os.environ.get("ASSETBOOK_TEST_SESSION_LOG"):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")


LEDGER_KEY = "reliability_ledger"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its reliability ledger to the controller."""
    from tests.reliability.ledger import LEDGER

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput[LEDGER_KEY] = json.dumps(LEDGER.rows)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:  # pytest-xdist, in the controller
    from tests.reliability.ledger import merge

    merge(json.loads(node.workeroutput.get(LEDGER_KEY, "{}")))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.reliability.ledger import LEDGER

    if LEDGER.rows:
        terminalreporter.section("reliability report")
        terminalreporter.write_line(LEDGER.table())
