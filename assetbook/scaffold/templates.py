"""Where the scaffold's templates come from.

The generic ones (pyproject, README, the tabular spec and features notebook) are package data
in `assetbook/templates/`. The loans example is this repository's own project: in a wheel,
setup.py copied it to `assetbook/templates/loans/`; in an editable install it is read from
the checkout the package lives in.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from string import Template

from assetbook.errors import AssetbookError
from assetbook.scaffold.manifest import example_files

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"


def example_root(package: Path = PACKAGE) -> Path:
    """The folder holding the loans example: the wheel's copy, else the checkout."""
    built = package / "templates" / "loans"
    if built.is_dir():
        return built
    checkout = package.parent
    if _is_assetbook_checkout(checkout):
        return checkout
    raise AssetbookError(
        f"the loans example is missing from this installation of assetbook ({package}): "
        f"neither {built} (a wheel's copy) nor a checkout around it exists; reinstall "
        "assetbook from a wheel built with `pip wheel .`, or `pip install -e <checkout>`")


def _is_assetbook_checkout(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    return tomllib.loads(pyproject.read_text()).get("project", {}).get("name") == "assetbook"


def example_sources(package: Path = PACKAGE) -> dict[str, Path]:
    """The loans example's files: relative path -> where to copy it from."""
    root = example_root(package)
    try:
        return {name: root / name for name in example_files(root)}
    except FileNotFoundError as exc:
        raise AssetbookError(f"{exc}; reinstall assetbook") from exc


def render(template: str, **values: object) -> str:
    """A template of `assetbook/templates/` (`*.tmpl`) with its `$name` placeholders filled."""
    return Template((TEMPLATES / template).read_text()).substitute(values)
