"""The wheel of this checkout installed in a fresh virtual environment, as a user gets it.

Built once per session from a clean copy of the working tree (what git tracks or would track),
so nothing of the checkout's own build state reaches the wheel. The fresh environment holds
the wheel alone; its dependencies come from the development environment's site-packages
through a `.pth` file (a local cache: the test must not download torch), and their data files
(nbconvert's templates, the Jupyter kernel spec) through a link to its `share/`, where pip
would have put them. A `.pth` line adds a folder without running the `.pth` files in it, so
the checkout's editable install stays invisible there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ports import free_port

INHERITED = ("MLFLOW_TRACKING_URI", "DAGSTER_HOME", "PYTHONPATH", "VIRTUAL_ENV", "RAY_ADDRESS")


@dataclass(frozen=True)
class WheelEnv:
    wheel: Path
    bin: Path  # the fresh environment's scripts: python, assetbook
    site_packages: Path

    def environ(self) -> dict[str, str]:
        """A new user's shell: no Assetbook or MLflow settings, this environment first on
        PATH, and a port of its own for the served model."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ASSETBOOK_") and k not in INHERITED}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["ASSETBOOK_SERVE_PORT"] = str(free_port())
        return env

    def python(self, cwd: Path, code: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "python"), "-c", code], cwd=cwd,
                              env=self.environ(), capture_output=True, text=True, timeout=120)


def working_tree_copy(destination: Path) -> Path:
    """The files git tracks or would track (not ignored), as they are now."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():  # a tracked file deleted in the working tree
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination


@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelEnv]:
    scratch = tmp_path_factory.mktemp("wheel")
    source = working_tree_copy(scratch / "source")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(scratch / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (scratch / "dist").glob("assetbook-*.whl")
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    fresh = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(fresh), "install", "--no-deps",
         "--no-index", "-q", str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    site_packages = Path(subprocess.run(
        [str(fresh), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "development-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    (venv / "share").symlink_to(Path(sys.prefix) / "share")
    yield WheelEnv(wheel, venv / "bin", site_packages)
