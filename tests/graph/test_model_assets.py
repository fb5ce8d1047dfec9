"""Tune and train assets through Dagster, with a real Ray (the session's cluster) and a real
MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import torch
from mlflow.tracking import MlflowClient

from assetbook.errors import SpecError
from assetbook.resources.state import StateFolder
from tests.conftest import DATA, build_defs, failure_messages, land, materialize

pytestmark = pytest.mark.usefixtures("shared_ray")  # searches join one Ray

MODELS = ["hyperparameters", "candidate_model"]


def quick(root: Path) -> None:
    """Fewer epochs than the default spec: the test checks wiring, not accuracy."""
    spec = root / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("max_epochs: 6", "max_epochs: 3")
                    .replace("max_epochs: 10", "max_epochs: 3"))


@pytest.mark.slow
def test_tuned_model_is_trained_tracked_and_registered(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    quick(project_dir)
    defs = build_defs(project_dir)
    keys = land(project_dir, 4)
    assert materialize(defs, instance, DATA, keys).success
    result = materialize(defs, instance, MODELS)
    assert result.success, failure_messages(result)

    best = json.loads((state.artifacts / "hyperparameters" / "all.json").read_text())
    assert best["window"] == keys[:2]  # lag 2: the latest two days are held out
    assert len(best["trials"]) == 4
    model = torch.load(state.artifacts / "candidate_model" / "all.pt", weights_only=True)
    assert model["hyperparameters"] == best["best_config"]  # the search reached training

    event = instance.get_latest_materialization_event(dg.AssetKey("candidate_model"))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["window"] == "2024-01-01, 2024-01-02"
    assert metadata["epochs"] == 3 and metadata["devices"] == 1
    assert metadata["model_version"] == "1" and metadata["val_accuracy"] > 0.6

    client = MlflowClient(f"sqlite:///{state.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("loans")
    runs = client.search_runs([experiment.experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    fit_run, search_run = by_name["candidate_model fit"], by_name["hyperparameters search"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == search_run.info.run_id]
    assert len(trials) == 4 and all("lr" in t.data.params for t in trials)
    for trial in trials:  # each epoch's result, at its epoch, and the trial's end
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "val_loss")]
        assert steps == list(range(1, len(steps) + 1)) and steps
        assert trial.info.status == "FINISHED"
    assert fit_run.info.status == "FINISHED"
    assert fit_run.data.tags["dagster.run_id"] == event.run_id
    assert fit_run.data.tags["dagster.partitions"] == "2024-01-01,2024-01-02"
    assert len(client.get_metric_history(fit_run.info.run_id, "val_loss")) == 3  # per epoch
    assert fit_run.data.params["hidden"] == str(best["best_config"]["hidden"])
    version = client.get_model_version_by_alias("loans_classifier", "candidate")
    assert str(version.version) == "1" and version.run_id == fit_run.info.run_id
    assert "model.pt" in [a.path.split("/")[-1] for a in
                          client.list_artifacts(fit_run.info.run_id, "model")]

    # A new day: a new candidate version; the tuning (weekly) is not part of this run.
    land(project_dir, 1)
    assert materialize(defs, instance, DATA, ["2024-01-05"]).success
    assert materialize(defs, instance, ["candidate_model"]).success
    latest = client.get_model_version_by_alias("loans_classifier", "candidate")
    assert str(latest.version) == "2"


def test_train_asset_names_a_missing_model_module(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text() + """
  broken_model:
    kind: train
    inputs: {features: {mapping: window, size: 3}}
    model: project.models.nowhere:Net
    hyperparameters: {hidden: 8}
""")
    # The code version reads the module's source, so the error comes at load time.
    with pytest.raises(SpecError, match=r"assets/loans.yaml, asset 'broken_model': module "
                       r"'project.models.nowhere' not found"):
        build_defs(project_dir)
