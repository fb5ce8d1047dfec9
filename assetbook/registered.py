"""`load_model`: a registered model version by its alias or number, in a notebook or a REPL.

`load("candidate_model")` gives the newest fit; what is served is the `champion` alias, which
stays on an older version after a refused candidate or a rollback. This reads the version an
alias (or a number) names from the project's MLflow registry, as the bento was built from it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.training import chosen_model
from assetbook.resources.importable import make_importable
from assetbook.resources.state import StateFolder
from assetbook.resources.tracking import MlflowTracking
from assetbook.serving.model_file import Predictor
from assetbook.spec.loader import load_project
from assetbook.values import find_project


def load_model(alias: str = "champion", *, version: str | int | None = None,
               model: str | None = None, project: Path | str | None = None) -> Predictor:
    """The registered version that `alias` names (`champion`: what is served; `previous`,
    `candidate`, or a later deployment's name), or `version` by number, with its
    preprocessing and target encoding. `model` is needed only where the project registers
    several; `project` defaults to the project holding the current folder."""
    root = find_project(Path(project) if project is not None else Path.cwd())
    make_importable(root)  # the model file names its class in the project's package
    state = StateFolder.for_project(root)
    name = chosen_model(BuildContext(load_project(root), state), model, "model='...'")
    registry = MlflowTracking.local(state.root, state.profile.mlflow)
    number = str(version) if version is not None else registry.alias_version(name, alias)
    if number is None:
        raise AssetbookError(f"no version of {name} has the alias '{alias}' (yet): run the "
                             "pipeline, or give version=N")
    with tempfile.TemporaryDirectory() as scratch:
        return Predictor.load(registry.download(name, number, Path(scratch)))
