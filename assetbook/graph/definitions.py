"""Specs -> `dagster.Definitions`: one builder per kind of asset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from assetbook.graph.context import IO_MANAGER_KEY, BuildContext
from assetbook.graph.delivery import build_evaluate_asset, build_promote_asset
from assetbook.graph.drift import build_drift_asset
from assetbook.graph.notebooks import build_notebook_asset
from assetbook.graph.orphans import build_orphaned_runs_sensor
from assetbook.graph.sensors import build_automation_sensor, build_landing_sensor, landing_sources
from assetbook.graph.serving import build_deploy_asset, build_package_asset
from assetbook.graph.sources import build_source_asset, build_validate_asset
from assetbook.graph.training import MLFLOW_KEY, build_train_asset, build_tune_asset
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.importable import make_importable
from assetbook.resources.state import StateFolder
from assetbook.resources.tracking import MlflowTracking
from assetbook.spec import DeclaredAsset, ProjectSpec, load_project

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
    make_importable(project.root)
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
    make_importable(root)  # before the specs import the schemas they name
    return build_definitions(load_project(root), StateFolder.for_project(root))
