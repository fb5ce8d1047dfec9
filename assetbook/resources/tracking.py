"""MLflow tracking and registry: the few calls Assetbook makes, as a typed Dagster resource.

dagster-mlflow's `mlflow_tracking` opens one MLflow run per Dagster run and hands out the
`mlflow` module itself; Assetbook needs a run per asset (tuning and training in one Dagster
run must not share parameters), nested runs for trials, and the registry's aliases, so it
talks to `MlflowClient` directly. The sqlite store lives in the state folder by default; a
profile's `mlflow` (or $MLFLOW_TRACKING_URI) names a tracking server instead, which keeps the
artifacts where it is configured to (e.g. `--artifacts-destination s3://...`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

CANDIDATE, CHAMPION, PREVIOUS = "candidate", "champion", "previous"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class MlflowTracking(dg.ConfigurableResource):
    """One experiment per pipeline; `$MLFLOW_TRACKING_URI` points it at any server. The
    registry's aliases: `candidate` (every fit), `champion` (what serves) and `previous`
    (where a rollback returns)."""

    tracking_uri: str
    artifact_root: str  # "": the server's own artifact store

    @classmethod
    def local(cls, state_root: Path, server: str | None = None) -> MlflowTracking:
        """`server` (a profile's), else $MLFLOW_TRACKING_URI, else SQLite in the state folder."""
        uri = server or os.environ.get("MLFLOW_TRACKING_URI")
        if uri and uri.startswith(("http://", "https://")):
            return cls(tracking_uri=uri, artifact_root="")
        return cls(tracking_uri=uri or f"sqlite:///{state_root / 'mlflow.db'}",
                   artifact_root=(state_root / "mlartifacts").as_uri())

    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)

    def experiment_id(self, experiment: str) -> str:
        client = self.client()
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        return client.create_experiment(experiment, artifact_location=(
            f"{self.artifact_root}/{experiment}" if self.artifact_root else None))

    @contextmanager
    def run(self, experiment: str, name: str, tags: Mapping[str, str]) -> Iterator[str]:
        """A finished (or failed) MLflow run around the block; yields its id."""
        client = self.client()
        run = client.create_run(self.experiment_id(experiment), run_name=name, tags=dict(tags))
        try:
            yield run.info.run_id
        except BaseException:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
        client.set_terminated(run.info.run_id, "FINISHED")

    def log(self, run_id: str, params: Mapping[str, Any] | None = None,
            metrics: Mapping[str, float] | None = None) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self.client().log_batch(
            run_id,
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
        )

    def log_file(self, run_id: str, path: Path, folder: str, name: str) -> str:
        """Upload a file to the run as `folder/name`; returns the artifact URI of `folder`."""
        client = self.client()
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copyfile(path, Path(scratch, name))
            client.log_artifact(run_id, str(Path(scratch, name)), folder)
        return f"{client.get_run(run_id).info.artifact_uri}/{folder}"

    def log_json(self, run_id: str, value: Mapping[str, Any], folder: str, name: str) -> None:
        """Upload a JSON document to the run as `folder/name`."""
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch, name)
            path.write_text(json.dumps(value, indent=2, default=str))
            self.client().log_artifact(run_id, str(path), folder)

    def read_json(self, run_id: str, artifact: str) -> dict[str, Any] | None:
        """A JSON document logged to the run (`folder/name`), or None if it has none."""
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as scratch:
            try:
                path = _download(run_id=run_id, artifact_path=artifact, dst_path=scratch,
                                 tracking_uri=self.tracking_uri)
            except (MlflowException, OSError):
                return None
            return json.loads(Path(path).read_text())

    def register(self, name: str, run_id: str, source: str, alias: str,
                 tags: Mapping[str, str]) -> str:
        """A new version of the registered model `name`, carrying `alias`; returns it."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        version = client.create_model_version(name, source=source, run_id=run_id,
                                              tags=dict(tags))
        client.set_registered_model_alias(name, alias, version.version)
        return str(version.version)

    def alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client().get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def version_info(self, name: str, version: str) -> Any:
        return self.client().get_model_version(name, version)

    def download(self, name: str, version: str, destination: Path) -> Path:
        """The version's model.pt, copied out of the artifact store."""
        source = self.version_info(name, version).source
        folder = _download(artifact_uri=source, dst_path=str(destination),
                           tracking_uri=self.tracking_uri)
        return Path(folder) / "model.pt"

    def promote(self, name: str, version: str) -> str | None:
        """Move `champion` to `version`; the former champion becomes `previous`."""
        client = self.client()
        former = self.alias_version(name, CHAMPION)
        if former and former != version:
            client.set_registered_model_alias(name, PREVIOUS, former)
        client.set_registered_model_alias(name, CHAMPION, version)
        return former

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` (an environment's name, say) at `version`."""
        self.client().set_registered_model_alias(name, alias, version)

    def roll_back(self, name: str, current: str, to: str) -> None:
        """`champion` from `current` back to `to`; `current` becomes `previous`."""
        client = self.client()
        client.set_registered_model_alias(name, CHAMPION, to)
        client.set_registered_model_alias(name, PREVIOUS, current)


def _download(**where: Any) -> str:
    """`mlflow.artifacts.download_artifacts` without its progress bar, which it draws on
    stderr for every file, in a step's log, a command's output or a user's notebook."""
    import mlflow.artifacts

    before = os.environ.get(PROGRESS_BAR)
    os.environ[PROGRESS_BAR] = "false"
    try:
        return mlflow.artifacts.download_artifacts(**where)
    finally:
        if before is None:
            del os.environ[PROGRESS_BAR]
        else:
            os.environ[PROGRESS_BAR] = before
