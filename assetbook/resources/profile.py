"""Profiles: one setting that moves a project from the embedded default (SQLite, the state
folder, a local Ray, runs in process) to shared services, with no change to specs or notebooks.

A project's `profiles.yaml` names profiles; `$ASSETBOOK_PROFILE` (or `assetbook --profile`)
picks one, `embedded` when unset. `${VAR}` in a value is read from the environment, so a
profile file holds no secret. `$ASSETBOOK_<FIELD>` overrides one field of whichever profile is
active, e.g. `ASSETBOOK_STORE=s3://bucket/prefix`.

    shared:
      store: s3://assetbook/loans            # artifacts, executed notebooks, reports, landed files
      postgres: postgresql://assetbook@db:5432/dagster   # the Dagster instance
      mlflow: http://mlflow:5000             # tracking server and registry
      ray: ray-head:6379                     # search and training (Ray Tune, Ray Train)
      executor: multiprocess                 # a process per step (default: in_process)
      webhook: ${SLACK_WEBHOOK_URL}          # alerts: failed checks and runs, freshness FAIL
      environment:                           # set for every process Assetbook starts
        AWS_ENDPOINT_URL: ${S3_ENDPOINT}
      dagster: {run_launcher: ...}           # more of the instance's dagster.yaml
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assetbook.errors import SpecError

PROFILE_ENV = "ASSETBOOK_PROFILE"
PROFILES_FILE = "profiles.yaml"
EMBEDDED = "embedded"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Profile(BaseModel):
    """Where a project's state lives; every field left out keeps the embedded default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = EMBEDDED
    store: str | None = Field(None, description="fsspec URL (s3://, gs://, az://, a folder) of "
                              "artifacts, executed notebooks, reports and landed files; default "
                              "the state folder")
    postgres: str | None = Field(None, description="postgresql:// URL of the Dagster instance's "
                                 "database; default SQLite in the state folder")
    mlflow: str | None = Field(None, description="MLflow tracking server URL; default SQLite in "
                               "the state folder")
    ray: str | None = Field(None, description="address of a Ray cluster that runs the search "
                            "and training (Ray Train); default a local Ray for the search and "
                            "training in a process of its own")
    executor: Literal["in_process", "multiprocess"] = Field(
        "in_process", description="Dagster executor: a run's steps in its process, or a "
        "process per step")
    webhook: str | None = Field(None, description="URL that gets one Slack-compatible message "
                                "per failed check, refused candidate, failed run and freshness "
                                "FAIL (sent by the `assetbook_alerts` sensor); a secret: give "
                                "it as ${VAR}")
    environment: dict[str, str] = Field(default_factory=dict, description="variables set for "
                                        "every process Assetbook starts (store endpoints, "
                                        "credentials' locations)")
    dagster: dict[str, Any] = Field(default_factory=dict, description="more of the Dagster "
                                    "instance's dagster.yaml, e.g. a `run_launcher` (Docker, "
                                    "Kubernetes)")

    @property
    def shared(self) -> bool:
        return any((self.store, self.postgres, self.mlflow, self.ray))

    def apply_environment(self) -> None:
        """Export the profile's variables, so kernels, training processes, Ray workers and
        MLflow clients started from here reach the same services."""
        os.environ.update(self.environment)


def active_profile(project_root: Path) -> Profile:
    """The profile `$ASSETBOOK_PROFILE` names in the project's profiles file, with the
    `$ASSETBOOK_<FIELD>` overrides; its environment is exported."""
    name = os.environ.get(PROFILE_ENV) or EMBEDDED
    fields = _declared(project_root, name)
    for field in ("store", "postgres", "mlflow", "ray", "executor", "webhook"):
        if value := os.environ.get(f"ASSETBOOK_{field.upper()}"):
            fields[field] = value
    try:
        profile = Profile(name=name, **fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SpecError(PROFILES_FILE, f"profile '{name}': {problems}") from exc
    profile.apply_environment()
    return profile


def _declared(project_root: Path, name: str) -> dict:
    path = project_root / PROFILES_FILE
    declared = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    if name not in declared:
        if name == EMBEDDED:
            return {}
        known = ", ".join(sorted({EMBEDDED, *declared})) or EMBEDDED
        raise SpecError(PROFILES_FILE, f"no profile '{name}' (${PROFILE_ENV}); known: {known}")
    return _expanded(declared[name] or {}, name)


def _expanded(value: object, profile: str) -> object:
    """`${VAR}` replaced by the variable's value; an unset one is an error, not ''."""
    if isinstance(value, dict):
        return {key: _expanded(item, profile) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def variable(match: re.Match) -> str:
        if (found := os.environ.get(match[1])) is None:
            raise SpecError(PROFILES_FILE, f"profile '{profile}' reads ${{{match[1]}}}, which "
                            "is not set")
        return found

    return _VARIABLE.sub(variable, value)
