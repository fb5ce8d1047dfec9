"""The new project's folder: checked before anything is written, filled, and made a git
repository with a first commit on `main` (`assetbook ci --base main` compares against it, and
the bento's `git_commit` label names it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from assetbook.errors import AssetbookError

Files = dict[str, str | Path]  # relative path -> its text, or a file to copy
BRANCH = "main"
FALLBACK_IDENTITY = ("-c", "user.name=Assetbook", "-c", "user.email=assetbook@localhost")


def check_folder(root: Path, keep: Path | None = None) -> None:
    """`root` must be absent or empty, except for `keep` (the user's data folder inside it):
    `assetbook init` never overwrites."""
    if root.exists() and not root.is_dir():
        raise AssetbookError(f"{root} is not an empty folder: choose a new path, "
                             "`assetbook init` never overwrites")
    if shutil.which("git") is None:
        raise AssetbookError("git is not installed: `assetbook init` makes the project a git "
                             "repository (for `assetbook ci` and the bento's labels); install "
                             "git and run it again")
    others = [p for p in (root.iterdir() if root.exists() else ())
              if keep is None or not keep.is_relative_to(p.resolve())]
    if others:
        allowed = " (only the --data folder may be in it)" if keep else ""
        raise AssetbookError(f"{root} is not an empty folder{allowed}: choose a new path, "
                             "`assetbook init` never overwrites")


def write_files(root: Path, files: Files, keep: Path | None = None) -> list[Path]:
    """Write every file, after checking that none falls inside `keep`; returns them."""
    paths = [root / relative for relative in files]
    if keep is not None and (inside := [p for p in paths if p.resolve().is_relative_to(keep)]):
        raise AssetbookError(f"the --data folder {keep} is where `assetbook init` writes "
                             f"{inside[0].relative_to(root)}: rename the data folder, e.g. "
                             f"to {root / 'data'}")
    for path, content in zip(paths, files.values(), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_text(content)
    return paths


def commit_all(root: Path, message: str) -> None:
    """`git init` on branch main and one commit of everything (the user's git identity, or
    Assetbook's when none is configured)."""
    _git(root, "init", "-q")
    _git(root, "symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")  # whatever init.defaultBranch
    _git(root, "add", "-A")
    known = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True,
                           text=True).stdout.strip()
    _git(root, *(() if known else FALLBACK_IDENTITY), "commit", "-q", "-m", message)


def _git(root: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssetbookError(f"`git {' '.join(args)}` failed in {root}: "
                             f"{done.stderr.strip() or done.stdout.strip()}")
