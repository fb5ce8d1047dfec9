"""`assetbook init <folder>`: the loans example, this repository's own project, with a
simulator that lands its data, so a first `assetbook run` needs nothing else."""

from __future__ import annotations

from pathlib import Path

from assetbook.scaffold.common import common_files
from assetbook.scaffold.folder import check_folder, commit_all, write_files
from assetbook.scaffold.templates import example_sources

MODELS_ROW = ("| `project/models.py`, `project/stream.py` | the classifier the specs name, and the "
              "generator `assetbook run` simulates days with |\n")


def scaffold_example(root: Path) -> list[Path]:
    """Write the loans example into `root` (absent or empty); returns the files written."""
    root = root.resolve()
    check_folder(root)
    files = {**example_sources(),
             **common_files(root, "example/README.md.tmpl", models_row=MODELS_ROW)}
    written = write_files(root, files)
    commit_all(root, "The loans example (assetbook init)")
    return written
