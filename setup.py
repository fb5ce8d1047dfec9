"""Build hook: the loans example, which is this repository's own project (project/, its spec,
notebooks, bento, workspace and CI workflow), goes into the wheel as
`assetbook/templates/loans/`, the template of `assetbook init`, so that git holds it once.
An editable install reads it from the checkout instead. Metadata lives in pyproject.toml."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
example_files = runpy.run_path(str(ROOT / "assetbook/scaffold/manifest.py"))["example_files"]


def copy_example(destination: Path) -> None:
    for name in example_files(ROOT):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)


class BuildWithExample(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            copy_example(Path(self.build_lib) / "assetbook" / "templates" / "loans")


class SdistWithExample(sdist):
    """The sdist carries the example's files at their places, so a wheel built from it has
    them too."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        copy_example(Path(base_dir))


setup(cmdclass={"build_py": BuildWithExample, "sdist": SdistWithExample})
