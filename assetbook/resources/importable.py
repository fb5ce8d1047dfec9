"""The project's own Python package (`project/`: schemas, features, models) is imported by the
code location, notebook kernels, training processes, Ray workers and the bento build. Putting
the project root on `sys.path` and on `PYTHONPATH`, which every child process inherits, makes
it importable in all of them without installing it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def make_importable(root: Path) -> None:
    """Put `root` first on this process's import path and on its children's."""
    folder = str(root.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if folder not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([folder, *paths])
