"""The Dagster code location (`workspace.yaml` and `[tool.dagster]` point here).

The project root is `$ASSETBOOK_PROJECT` when set (`assetbook dev` and tests set it), else the
current folder when it is a project (`dagster dev -w workspace.yaml` inside a folder made by
`assetbook init`), else this repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from project.build import definitions_for
from project.resources.state import PROJECT_ENV


def project_root() -> Path:
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV])
    here = Path.cwd()
    if (here / "assets").is_dir() and (here / "workspace.yaml").is_file():
        return here
    return Path(__file__).resolve().parent.parent


defs = definitions_for(project_root())
