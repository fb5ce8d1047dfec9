"""The one git-ignored folder that holds all local state, and the names of what lies in it.

Artifacts, executed notebooks, reports and landed files live in the project's store: this
folder by default, or the active profile's `store` (an fsspec URL). Everything a run produces
is written atomically (`assetbook.atomic`), so a run killed midway leaves nothing that looks
finished.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from assetbook.atomic import StorePath
from assetbook.errors import ArtifactError
from assetbook.resources.profile import Profile, active_profile
from assetbook.resources.store import store_path

STATE_ENV = "ASSETBOOK_STATE"
# Runs interrupted by a dead process are retried; failed assets and checks are not. A run
# that never got a process (its launcher was killed while starting it) is failed after
# start_timeout_seconds; one whose process died is failed by the orphaned_runs sensor. The
# daemon looks for queued runs every second, not Dagster's 5: a landed day waits less for each
# of its runs to start.
DAGSTER_CONFIG: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
    "run_monitoring": {"enabled": True, "start_timeout_seconds": 120,
                       "poll_interval_seconds": 30},
    "run_queue": {"dequeue_interval_seconds": 1},
}
_SAFE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
UNPARTITIONED = "all"


def safe_part(value: str) -> str:
    """A path component from a key or name; refuses anything that could leave its folder."""
    if not _SAFE_PART.fullmatch(value) or ".." in value:
        raise ArtifactError(f"'{value}' cannot be used in a path: only letters, digits and "
                            "'_', '.', '-' are allowed, and no '..'")
    return value


def with_driver(url: str) -> str:
    """A `postgresql://` URL with the driver `assetbook[shared]` installs: SQLAlchemy 2.1
    reads a bare one as psycopg 3's."""
    return "postgresql+psycopg2://" + url.removeprefix("postgresql://") if url.startswith(
        "postgresql://") else url


@dataclass(frozen=True)
class StateFolder:
    """The local state folder, and the store of artifacts, reports and landed files: the
    folder itself by default, or the active profile's `store`."""

    root: Path
    profile: Profile = Profile()

    @classmethod
    def for_project(cls, project_root: Path) -> StateFolder:
        """`$ASSETBOOK_STATE` if set, else `<project>/.assetbook`; the active profile's."""
        root = Path(os.environ.get(STATE_ENV) or project_root / ".assetbook").resolve()
        return cls(root, active_profile(project_root))

    @property
    def store(self) -> StorePath:
        return store_path(self.profile.store) if self.profile.store else self.root

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    def prepare_dagster_home(self) -> Path:
        """Create the Dagster home: telemetry off (nothing leaves the machine), and runs
        interrupted by a stopped daemon retried (a run whose code failed is not: a bad day
        would only fail again)."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        wanted = yaml.safe_dump(self.dagster_config(), sort_keys=False)
        if not config.exists() or config.read_text() != wanted:
            config.write_text(wanted)
        return self.dagster_home

    def dagster_config(self) -> dict[str, Any]:
        """The embedded settings, the profile's `postgres` (runs, events and schedules in one
        database, through dagster-postgres), then the profile's own `dagster` settings, which
        win: a profile's `run_coordinator` replaces the embedded run queue."""
        config = dict(DAGSTER_CONFIG)
        if self.profile.postgres:
            config["storage"] = {"postgres": {"postgres_url": with_driver(self.profile.postgres)}}
        if "run_coordinator" in self.profile.dagster:
            del config["run_queue"]
        return config | self.profile.dagster

    @property
    def artifacts(self) -> StorePath:
        return self.store / "artifacts"

    @property
    def promotions(self) -> Path:
        """Every gate decision and rollback, one JSON object a line."""
        return self.root / "promotions.jsonl"

    @property
    def reports(self) -> StorePath:
        return self.store / "reports"

    @property
    def scratch(self) -> Path:
        """Outputs of notebooks opened by `assetbook notebook`: the pipeline never reads them."""
        return self.root / "scratch"

    def landing(self, asset: str) -> StorePath:
        return self.store / "landing" / safe_part(asset)

    def report_path(self, asset: str, label: str, suffix: str) -> StorePath:
        return self.reports / safe_part(asset) / f"{safe_part(label)}{suffix}"
