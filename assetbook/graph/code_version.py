"""Code versions from what really defines an asset, so edits are seen without hand-bumping.

A notebook contributes only its code cells (not outputs, execution counts or metadata), the
spec contributes its fields, and every Python module the asset names contributes its source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from assetbook.runners.notebook_source import read_notebook
from assetbook.spec.module_source import module_source


def notebook_code(path: Path) -> str:
    """The code cells of a notebook (an .ipynb or a text form), joined: what decides its
    result, so a paired .ipynb and percent .py have the same version."""
    notebook = read_notebook(path)
    return "\n\n".join(cell.source.strip() for cell in notebook.cells if cell.cell_type == "code")


def code_version(spec_fields: dict, notebook: Path | None, modules: Iterable[str]) -> str:
    digest = hashlib.sha256(json.dumps(spec_fields, sort_keys=True, default=str).encode())
    if notebook is not None:
        digest.update(notebook_code(notebook).encode())
    for module in sorted(set(modules)):
        digest.update(module.encode() + module_source(module).encode())
    return digest.hexdigest()[:16]
