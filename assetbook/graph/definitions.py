"""Specs -> `dagster.Definitions`: each step (an asset, or a notebook writing several) built by
the builder its kind names."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import dagster as dg

from assetbook.graph.alerts import build_alerts_sensor
from assetbook.graph.context import IO_MANAGER_KEY, BuildContext
from assetbook.graph.orphans import build_orphaned_runs_sensor
from assetbook.graph.promotion import build_promotion_sensor
from assetbook.graph.retention import build_gc_schedule
from assetbook.graph.sensors import build_automation_sensor, build_landing_sensor
from assetbook.graph.training import MLFLOW_KEY
from assetbook.kinds import BY_NAME
from assetbook.kinds.source.landing import landing_sources
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.importable import make_importable
from assetbook.resources.state import StateFolder
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.serving.environments import deployments
from assetbook.spec.loader import DeclaredAsset, ProjectSpec, load_project

Builder = Callable[[BuildContext, DeclaredAsset], dg.AssetsDefinition]


@cache
def builder_of(kind: str) -> Builder:
    """The builder a kind names as 'module:function', imported on first use."""
    module, _, function = BY_NAME[kind].builder.partition(":")
    return getattr(importlib.import_module(module), function)


def build_definitions(project: ProjectSpec, state: StateFolder) -> dg.Definitions:
    make_importable(project.root)
    _quiet_library_notes()
    ctx = BuildContext(project, state)
    # one build per step: a notebook with `outputs` is one multi-asset, not one per output
    assets = [builder_of(d.spec.kind)(ctx, d) for d in project.steps.values()]
    sensors = [build_automation_sensor(), build_orphaned_runs_sensor(project.by_partitions()),
               *(build_landing_sensor(ctx, d) for d in landing_sources(project)),
               *(build_promotion_sensor(ctx, d) for d in deployments(project)
                 if d.spec.promote_when)]  # type: ignore[attr-defined]
    if state.profile.webhook:
        sensors.append(build_alerts_sensor(project.root.name, state.profile.webhook))
    return dg.Definitions(
        assets=assets,
        sensors=sensors,
        schedules=[build_gc_schedule(project, state)],
        # Steps of a run share its process by default: a new process per step cost 6-12 s
        # each here, a third of a model run; training and search get processes of their own.
        executor=(dg.multiprocess_executor if state.profile.executor == "multiprocess"
                  else dg.in_process_executor),
        resources={
            IO_MANAGER_KEY: ArtifactIOManager(root=str(state.artifacts)),
            MLFLOW_KEY: MlflowTracking.local(state.root, state.profile.mlflow),
        },
    )


def _quiet_library_notes() -> None:
    """Notes of the libraries under Assetbook that a user can do nothing about, silenced in
    every process that builds the graph (the CLI, the code server, each run's worker):
    - the beta parameters of Assetbook's calls to Dagster (`Output(data_version=...)` in each
      step; `backfill_policy`, which Dagster's decorators report as their own);
    - that a job of day-at-a-time and all-at-once assets (the relaunch job, a run of days and
      models) backfills a day a run;
    - urllib3's SOCKS note, which `requests` silences as it imports urllib3's SOCKS support,
      yet a daemon-launched training step printed (why was not found: another thread's
      `catch_warnings` ending meanwhile would drop the filter `requests` set).
    Filters for good, set at each build, and no `catch_warnings` around the build: a filter
    set while one is active (by a module imported inside it) is dropped when it ends, and each
    run's steps printed these notes."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning, module="assetbook")
    warnings.filterwarnings("ignore", "Parameter `backfill_policy` of", dg.BetaWarning)
    warnings.filterwarnings("ignore", "Asset job .* varying BackfillPolicies", UserWarning)
    warnings.filterwarnings("ignore", "SOCKS support in urllib3")


def definitions_for(project_root: Path | str) -> dg.Definitions:
    """The code location of a project folder: its specs and its state folder."""
    root = Path(project_root).resolve()
    make_importable(root)  # before the specs import the schemas they name
    return build_definitions(load_project(root), StateFolder.for_project(root))
