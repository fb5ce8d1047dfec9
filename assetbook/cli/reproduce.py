"""`assetbook reproduce MODEL_VERSION`: rebuild a past model from its commit and the exact data
versions it read, and say whether it comes out the same.

The recorded commit is checked out into a scratch folder with a state folder of its own
(embedded: nothing touches the project's registry or instance). Only the kept versions the
model's manifest names are placed there, so its training window and held-out days resolve to
exactly those partitions. Then the train and evaluate assets run with `assetbook
materialize`, and the rebuilt model's data versions and held-out metrics are compared with
the recorded ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from assetbook.cli.session import Session
from assetbook.cli.versions import lineage, metric_text
from assetbook.errors import AssetbookError
from assetbook.graph.lineage import EVALUATION, LINEAGE_FOLDER, MANIFEST
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.profile import PROFILE_ENV
from assetbook.resources.state import STATE_ENV
from assetbook.resources.tracking import CANDIDATE, MlflowTracking

TIMEOUT_S = 3600


@dataclass(frozen=True)
class Reproduction:
    model: str
    version: str
    commit: str
    folder: Path
    same_data: bool  # the rebuilt model read exactly the recorded data versions
    recorded: dict[str, float]  # held-out metrics
    rebuilt: dict[str, float]
    tolerance: float

    @property
    def difference(self) -> float:
        shared = set(self.recorded) & set(self.rebuilt)
        return max((abs(self.recorded[k] - self.rebuilt[k]) for k in shared), default=0.0)

    @property
    def matches(self) -> bool:
        return self.same_data and bool(self.rebuilt) and self.difference <= self.tolerance


def reproduce(session: Session, version: str, model: str | None, tolerance: float,
              say: Any) -> Reproduction:
    found = lineage(session, version, model)
    if not found.get("commit"):
        raise AssetbookError(f"{found['model']} v{found['version']} was trained outside a git "
                             "repository: there is no commit to rebuild it from")
    missing = [f"{r['asset']}/{r['partition']}@{r['version']}"
               for r in found["reads"] + found["held_out"] if not r["stored"]]
    if missing:
        raise AssetbookError(f"kept data versions are gone: {', '.join(missing)}")
    if found["dirty"]:
        say(f"note: v{found['version']} was trained with uncommitted changes; rebuilding "
            "from its commit alone")
    folder = session.state.root / "reproduce" / f"{found['model']}-v{found['version']}"
    shutil.rmtree(folder, ignore_errors=True)
    say(f"checking out {found['commit'][:12]} into {folder}")
    _checkout(session.root, found["commit"], folder)
    state = folder / ".assetbook"
    _place(ArtifactIOManager(root=str(session.state.artifacts)),
           ArtifactIOManager(root=str(state / "artifacts")), found["reads"] + found["held_out"])
    train, evaluate = found["asset"], _evaluation_of(session, found["asset"])
    log = folder / "reproduce.log"
    say(f"training and evaluating ({train}, {evaluate}); log: {log}")
    _materialize(folder, state, [train, evaluate], log)
    registry = MlflowTracking.local(state)
    rebuilt = registry.version_info(found["model"], registry.alias_version(found["model"],
                                                                          CANDIDATE))
    manifest = registry.read_json(rebuilt.run_id, f"{LINEAGE_FOLDER}/{MANIFEST}") or {}
    evaluation = registry.read_json(rebuilt.run_id, f"{LINEAGE_FOLDER}/{EVALUATION}") or {}
    return Reproduction(found["model"], found["version"], found["commit"], folder,
                        manifest.get("data") == found["data"], found["held_out_metrics"],
                        evaluation.get("candidate") or {}, tolerance)


def render(result: Reproduction) -> str:
    lines = [f"{result.model} v{result.version} rebuilt from {result.commit[:12]} in "
             f"{result.folder}",
             f"  data: {'the recorded versions' if result.same_data else 'DIFFERENT versions'}"]
    for name in sorted(set(result.recorded) | set(result.rebuilt)):
        before, after = result.recorded.get(name), result.rebuilt.get(name)
        lines.append(f"  {name:<18} recorded {metric_text(before, name, 6)}  rebuilt "
                     f"{metric_text(after, name, 6)}")
    verdict = ("identical" if result.matches and result.difference == 0 else
               f"within tolerance {result.tolerance:g} (largest difference "
               f"{result.difference:.3g})" if result.matches else
               f"NOT reproduced (largest difference {result.difference:.3g}, tolerance "
               f"{result.tolerance:g})")
    return "\n".join([*lines, f"result: {verdict}"])


def _checkout(root: Path, commit: str, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    for command in (["git", "clone", "--quiet", "--no-checkout", str(root), str(folder)],
                    ["git", "-C", str(folder), "checkout", "--quiet", "--detach", commit]):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssetbookError(f"cannot check out {commit[:12]}: {result.stderr.strip()}")


def _place(source: ArtifactIOManager, target: ArtifactIOManager,
           rows: list[dict[str, Any]]) -> None:
    """Each named version, as the latest of its partition in the scratch store."""
    with tempfile.TemporaryDirectory() as scratch:
        for row in rows:
            key = dg.AssetKey(row["asset"])
            kept = source.versions(key, row["partition"])[row["version"]]
            staged = Path(scratch, f"{row['version']}{kept.suffix}")
            staged.write_bytes(kept.read_bytes())
            target.store(key, row["partition"], staged)


def _evaluation_of(session: Session, train: str) -> str:
    found = [d.name for d in session.project.assets.values()
             if d.spec.kind == "evaluate" and train in d.spec.inputs]
    if len(found) != 1:
        raise AssetbookError(f"no single evaluate asset reads '{train}' (found: "
                             f"{', '.join(found) or 'none'})")
    return found[0]


def _materialize(folder: Path, state: Path, assets: list[str], log: Path) -> None:
    env = {**os.environ, STATE_ENV: str(state)}
    for name in (PROFILE_ENV, "MLFLOW_TRACKING_URI", "DAGSTER_HOME"):
        env.pop(name, None)
    command = [sys.executable, "-c", "import sys; from assetbook.cli.main import main; "
               "sys.exit(main())", "--project", str(folder), "materialize", *assets]
    with log.open("w") as output:
        result = subprocess.run(command, cwd=folder, env=env, stdout=output,
                                stderr=subprocess.STDOUT, timeout=TIMEOUT_S, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise AssetbookError(f"the rebuild failed (log: {log}):\n{tail}")
