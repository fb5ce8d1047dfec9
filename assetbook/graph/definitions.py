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
from assetbook.graph.sensors import build_automation_sensor, build_landing_sensor, landing_sources
from assetbook.graph.training import MLFLOW_KEY
from assetbook.kinds import BY_NAME
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
    _quiet_dagster_notes()
    ctx = BuildContext(project, state)
    # one build per step: a notebook with `outputs` is one multi-asset, not one per output;
    # Dagster warns of the beta parameters its decorators get (backfill_policy) as its own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = [builder_of(d.spec.kind)(ctx, d) for d in project.steps.values()]
    sensors = [build_automation_sensor(), build_orphaned_runs_sensor(project.by_partitions()),
               *(build_landing_sensor(ctx, d) for d in landing_sources(ctx)),
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


def _quiet_dagster_notes() -> None:
    """Dagster's notes on how Assetbook uses it, which a user can do nothing about, silenced in
    every process that builds the graph (the CLI, the code server, each run's worker): the beta
    parameters of Assetbook's own calls (`Output(data_version=...)` in each step), and that a
    job of day-at-a-time and all-at-once assets (the relaunch job, a run of days and models)
    backfills a day a run. Set at each build, not at import: a filter set while
    `catch_warnings` is active (a module imported inside one) is dropped when it ends, and each
    run's steps printed the note."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning, module="assetbook")
    warnings.filterwarnings("ignore", "Asset job .* varying BackfillPolicies", UserWarning)


def definitions_for(project_root: Path | str) -> dg.Definitions:
    """The code location of a project folder: its specs and its state folder."""
    root = Path(project_root).resolve()
    make_importable(root)  # before the specs import the schemas they name
    return build_definitions(load_project(root), StateFolder.for_project(root))
