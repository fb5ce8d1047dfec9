"""Notebook sources: an `.ipynb`, or a plain-text notebook that reads well in a pull request
(a jupytext percent-format `.py`, a MyST `.md`). Each is read into the same nbformat notebook,
so code versions, runs and reports cannot tell them apart.

nbformat and jupytext take seconds to import, and the spec loader checks every notebook path:
`source_problem` reads the file as text, and only the readers import them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

FORMATS = {".ipynb": "ipynb", ".py": "py:percent", ".md": "md:myst"}  # suffix -> jupytext's
_CODE_CELL = {".py": re.compile(r"^#\s*%%", re.MULTILINE),  # what opens a cell of the text forms
              ".md": re.compile(r"^```\{code-cell\}", re.MULTILINE)}
ACCEPTED = ("an .ipynb, a jupytext percent-format .py (cells opened by `# %%`) or a MyST .md "
            "(cells in ```{code-cell} blocks)")


def source_problem(path: Path) -> str | None:
    """Why `path` is not a notebook Assetbook can run, or None if it is one."""
    if path.suffix not in FORMATS:
        return f"is not a notebook: use {ACCEPTED}"
    if not path.is_file():
        return f"not found (looked for {path})"
    code_cell = _CODE_CELL.get(path.suffix)
    if code_cell and not code_cell.search(path.read_text(encoding="utf-8")):
        return (f"has no code cell of the {FORMATS[path.suffix]} format: use {ACCEPTED}; "
                "`jupytext --set-formats ipynb,py:percent NOTEBOOK.ipynb` pairs an .ipynb "
                "with a percent .py")
    return None


def read_notebook(path: Path) -> NotebookNode:
    """The notebook at `path`, whatever its form, as nbformat v4."""
    if path.suffix == ".ipynb":  # nbformat alone: jupytext takes 0.4 s more to import
        import nbformat

        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path, fmt=FORMATS[path.suffix])


@contextmanager
def as_ipynb(path: Path) -> Iterator[Path]:
    """`path` as an .ipynb for papermill: itself, or a text notebook converted into a temporary
    folder under its own name, so the executed report names the notebook that ran."""
    if path.suffix == ".ipynb":
        yield path
        return
    import jupytext

    with tempfile.TemporaryDirectory(prefix="assetbook-notebook-") as folder:
        staged = Path(folder) / f"{path.stem}.ipynb"
        jupytext.write(read_notebook(path), staged)
        yield staged
