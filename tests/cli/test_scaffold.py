"""The scaffold's files, its pinned dependency, and how the code location finds a project."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

import project
from assetbook.cli import scaffold as scaffold_module
from assetbook.cli.scaffold import TEMPLATES, assetbook_requirement, project_name, scaffold
from assetbook.errors import AssetbookError
from assetbook.resources.state import PROJECT_ENV
from project.definitions import project_root
from tests.conftest import REPO


class Distribution:
    def __init__(self, direct_url: dict | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return json.dumps(self.direct_url) if self.direct_url else None


@pytest.mark.parametrize(("direct_url", "expected"), [
    ({"url": "file:///src/assetbook", "dir_info": {"editable": True}},
     "assetbook @ file:///src/assetbook"),
    ({"url": "https://example.org/assetbook-0.1.0.tar.gz", "archive_info": {}}, "assetbook"),
    (None, "assetbook"),  # from an index
])
def test_a_local_install_is_pinned_by_its_path(
    monkeypatch: pytest.MonkeyPatch, direct_url: dict | None, expected: str
) -> None:
    monkeypatch.setattr(scaffold_module.importlib.metadata, "distribution",
                        lambda name: Distribution(direct_url))
    assert assetbook_requirement() == expected


def test_scaffold_copies_the_templates_and_names_the_project_after_its_folder(
    tmp_path: Path
) -> None:
    root = tmp_path / "Loan scoring!"
    created = scaffold(root)
    assert sorted(p.relative_to(root).as_posix() for p in created) == sorted(
        [*TEMPLATES, "pyproject.toml", "README.md", ".gitignore"])
    for template in TEMPLATES:
        assert (root / template).read_bytes() == (REPO / template).read_bytes()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "Loan-scoring"
    assert pyproject["project"]["dependencies"] == [assetbook_requirement()]
    assert pyproject["tool"]["dagster"]["module_name"] == "project.definitions"
    assert "assetbook run" in (root / "README.md").read_text()


def test_scaffold_into_an_empty_folder_is_allowed_but_never_over_files(tmp_path: Path) -> None:
    scaffold(tmp_path)
    with pytest.raises(AssetbookError, match="is not an empty folder"):
        scaffold(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(AssetbookError, match="is not an empty folder"):
        scaffold(tmp_path / "file")


def test_without_a_checkout_beside_the_package_init_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project, "__file__", str(tmp_path / "site-packages/project/__init__.py"))
    with pytest.raises(AssetbookError, match=r"the project templates are not beside the installed "
                                             r"package .*`pip install -e <checkout>`"):
        scaffold(tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("folder", "name"), [("my-loans", "my-loans"), ("a b", "a-b"),
                                              ("...", "assetbook-project")])
def test_project_name(folder: str, name: str) -> None:
    assert project_name(Path(folder)) == name


def test_code_location_root_is_the_env_then_a_project_in_cwd_then_the_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_root() == REPO  # not a project: no assets/ nor workspace.yaml
    (tmp_path / "assets").mkdir()
    assert project_root() == REPO
    (tmp_path / "workspace.yaml").write_text("")
    assert project_root() == tmp_path
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "elsewhere"))
    assert project_root() == tmp_path / "elsewhere"
