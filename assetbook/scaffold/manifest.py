"""Which files of this repository make the loans example, the project `assetbook init` writes
when it is given no data. The example is this repository's own project, so it is never kept
twice: setup.py copies these files into the wheel, an editable install reads the checkout.

Standard library only: setup.py loads this file on its own, before assetbook is installed.
"""

from __future__ import annotations

from pathlib import Path

PATTERNS = (
    "project/*.py",
    "assets/loans.yaml",
    "notebooks/*.ipynb",
    "notebooks/*.py",  # plain-text notebooks (jupytext percent, MyST), or the pair of one
    "notebooks/*.md",
    "bentos/**/*",
    "workspace.yaml",
    ".github/workflows/assetbook-ci.yml",
)
REQUIRED = ("project/definitions.py", "assets/loans.yaml", "notebooks/evaluation.ipynb",
            "workspace.yaml", ".github/workflows/assetbook-ci.yml")
LEFT_OUT = ("__pycache__", ".ipynb_checkpoints")  # what running the example leaves behind


def example_files(root: Path) -> list[str]:
    """Relative paths of the example's files under `root` (a checkout, or the wheel's copy).

    Raises FileNotFoundError naming what is missing, so a build never ships half an example.
    """
    found = {path.relative_to(root).as_posix() for pattern in PATTERNS
             for path in root.glob(pattern)
             if path.is_file() and not set(path.relative_to(root).parts) & set(LEFT_OUT)}
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise FileNotFoundError(f"the loans example is incomplete in {root}: missing "
                                f"{', '.join(missing)}")
    return sorted(found)
