"""Specs -> `dagster.Definitions`: one builder per kind of asset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from project.build.context import IO_MANAGER_KEY, BuildContext
from project.build.delivery import build_evaluate_asset, build_promote_asset
from project.build.drift import build_drift_asset
from project.build.notebooks import build_notebook_asset
from project.build.orphans import build_orphaned_runs_sensor
from project.build.sensors import build_automation_sensor, build_landing_sensor, landing_sources
from project.build.serving import build_deploy_asset, build_package_asset
from project.build.sources import build_source_asset, build_validate_asset
from project.build.training import MLFLOW_KEY, build_train_asset, build_tune_asset
from project.resources.artifacts import ArtifactIOManager
from project.resources.state import StateFolder
from project.resources.tracking import MlflowTracking
from project.spec import DeclaredAsset, ProjectSpec, load_project

Builder = Callable[[BuildContext, DeclaredAsset], dg.AssetsDefinition]
BUILDERS: dict[str, Builder] = {
    "source": build_source_asset,
    "validate": build_validate_asset,
    "notebook": build_notebook_asset,
    "drift": build_drift_asset,
    "tune": build_tune_asset,
    "train": build_train_asset,
    "evaluate": build_evaluate_asset,
    "promote": build_promote_asset,
    "package": build_package_asset,
    "deploy": build_deploy_asset,
}


def build_definitions(project: ProjectSpec, state: StateFolder) -> dg.Definitions:
    ctx = BuildContext(project, state)
    assets = [BUILDERS[d.spec.kind](ctx, d) for d in project.assets.values()]
    sensors = [build_automation_sensor(), build_orphaned_runs_sensor(),
               *(build_landing_sensor(ctx, d) for d in landing_sources(ctx))]
    return dg.Definitions(
        assets=assets,
        sensors=sensors,
        # Steps of a run share its process: a new process per step cost 6-12 s each here,
        # a third of a model run; training and search still get processes of their own.
        executor=dg.in_process_executor,
        resources={
            IO_MANAGER_KEY: ArtifactIOManager(root=str(state.artifacts)),
            MLFLOW_KEY: MlflowTracking.local(state.root),
        },
    )


def definitions_for(project_root: Path | str) -> dg.Definitions:
    """The code location of a project folder: its specs and its state folder."""
    root = Path(project_root).resolve()
    return build_definitions(load_project(root), StateFolder.for_project(root))
