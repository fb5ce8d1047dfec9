"""The Dagster code location (`workspace.yaml` and `[tool.dagster]` point here).

The project root is this repository, or `$ASSETBOOK_PROJECT` when set (tests and scaffolded
projects point it at their own folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from project.build import definitions_for
from project.resources.state import PROJECT_ENV

PROJECT_ROOT = Path(os.environ.get(PROJECT_ENV) or Path(__file__).resolve().parent.parent)

defs = definitions_for(PROJECT_ROOT)
