"""A model's lineage: the exact content versions of every partition it read, the commit and
the code versions it was built from.

The train asset writes this manifest next to the model in MLflow (`lineage/lineage.json` of
the training run); the evaluation adds the held-out partitions it scored
(`lineage/evaluation.json`); the model version's tags and the bento's labels name the run and
the data's combined version. `assetbook lineage` and `assetbook reproduce` read it back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from assetbook.resources.versions import combined_version, content_version

MANIFEST = "lineage.json"
EVALUATION = "evaluation.json"
LINEAGE_FOLDER = "lineage"
DATA_VERSION_TAG = "assetbook.data_version"  # model version tag and bento label
COMMIT_TAG = "assetbook.commit"


def read_versions(read: Mapping[str, Iterable[Path]]) -> dict[str, dict[str, str]]:
    """`{input asset: {partition key: content version}}` of the files a step read."""
    return {asset: {path.stem: content_version(path) for path in paths}
            for asset, paths in read.items()}


def data_version(versions: Mapping[str, Mapping[str, str]]) -> str:
    """One version for everything a model read."""
    return combined_version({f"{asset}/{key}": version for asset, by_key in versions.items()
                             for key, version in by_key.items()})


def git_state(root: Path) -> dict[str, Any]:
    """The commit the project is at and whether its working tree differs from it (a model
    built from uncommitted code can be traced, not rebuilt)."""
    def git(*args: str) -> str | None:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status)}


def training_manifest(context: dg.AssetExecutionContext, root: Path, asset: str,
                      data: Mapping[str, Mapping[str, str]], code_versions: Mapping[str, str],
                      **details: Any) -> dict[str, Any]:
    """What a model is made of, in one JSON-able dict: `code_versions` are every asset's of
    the project, by name."""
    return {"asset": asset, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dagster_run_id": context.run.run_id, **git_state(root),
            "code_versions": dict(sorted(code_versions.items())), "data": data,
            "data_version": data_version(data), **details}
