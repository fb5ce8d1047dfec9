"""One project for the notebook-loop tests (`load`, `assetbook notebook`): the loans example,
sped up, with four small days, a candidate model and its evaluation report materialized once
per session into the project's own Dagster instance, as `assetbook run` leaves it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from assetbook.resources.state import STATE_ENV, StateFolder
from tests.conftest import DATA, build_defs, copy_example, failure_messages, land, materialize
from tests.specs import speed_up

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
MODELS = ["candidate_model", "evaluation_report"]  # lag 2: trained on two days, scored on two


@dataclass(frozen=True)
class Materialized:
    root: Path
    state: StateFolder

    def instance(self) -> dg.DagsterInstance:
        """The project's own instance (close it: `with project.instance() as instance`)."""
        return dg.DagsterInstance.from_config(str(self.state.dagster_home))


@pytest.fixture(scope="session")
def materialized(tmp_path_factory: pytest.TempPathFactory) -> Materialized:
    root = copy_example(tmp_path_factory.mktemp("notebook_loop") / "proj")
    speed_up(root, search=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(STATE_ENV, raising=False)  # the default: <project>/.assetbook
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        state = StateFolder.for_project(root)
        defs = build_defs(root)
        assert land(root, len(DAYS), rows=300) == DAYS
        with dg.DagsterInstance.from_config(str(state.prepare_dagster_home())) as instance:
            for selection, keys in ((DATA, DAYS), (MODELS, None)):
                result = materialize(defs, instance, selection, keys)
                assert result.success, failure_messages(result)
    return Materialized(root, state)


@pytest.fixture(autouse=True)
def _project_environment(materialized: Materialized, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's state folder and Dagster home, restored after each test (the command's
    session sets DAGSTER_HOME in this process's environment)."""
    monkeypatch.setenv(STATE_ENV, str(materialized.state.root))
    monkeypatch.setenv("DAGSTER_HOME", str(materialized.state.dagster_home))
