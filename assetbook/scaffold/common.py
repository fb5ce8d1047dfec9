"""What every new project has, whichever data it starts from: its pyproject, .gitignore and
test, and the files it shares with the loans example (the code location, the workspace, the
CI workflow, the evaluation notebook)."""

from __future__ import annotations

import re
from pathlib import Path

from assetbook.scaffold.folder import Files
from assetbook.scaffold.templates import TEMPLATES, render

SHARED_WITH_EXAMPLE = ("project/definitions.py", "notebooks/evaluation.ipynb", "workspace.yaml",
                       ".github/workflows/assetbook-ci.yml")


def project_name(folder: Path) -> str:
    """A valid distribution name from the folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._") or "assetbook-project"


def common_files(root: Path, readme: str, **values: object) -> Files:
    """pyproject.toml, README.md (from `readme`, a template with `$title`, `$python` and
    `values`), .gitignore and tests/."""
    python = render("common/python.md.tmpl", **values)
    return {
        "pyproject.toml": render("common/pyproject.toml.tmpl", name=project_name(root)),
        "README.md": render(readme, title=root.name, python=python, **values),
        ".gitignore": TEMPLATES.joinpath("common/gitignore").read_text(),
        "tests/test_project.py": TEMPLATES / "common/tests/test_project.py",
    }
