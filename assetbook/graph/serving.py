"""What the bento and the deployment share with the CLI: where BentoML keeps its store, and
the deployer of a `deploy` spec (served behind nginx on 127.0.0.1, switched blue/green)."""

import os
from pathlib import Path

from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.resources.state import StateFolder
from assetbook.runners.serving.deployment import MONITORING_FOLDER, Deployer, Probe

PORT_ENV = "ASSETBOOK_SERVE_PORT"


def bentoml_home(state: StateFolder) -> Path:
    return state.root / "bentoml"


def serving_folder(state: StateFolder) -> Path:
    return state.root / "serving"


def served_predictions(state: StateFolder) -> Path:
    """The monitoring folder where the deployed servers record what they answered."""
    return serving_folder(state) / MONITORING_FOLDER


def deployer(state: StateFolder, spec: DeployAssetSpec) -> Deployer:
    port = int(os.environ.get(PORT_ENV) or spec.port)
    return Deployer(serving_folder(state), port, bentoml_home(state),
                    Probe(spec.probe.path, spec.probe.body))
