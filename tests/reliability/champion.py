"""A copy of the default project with a champion, made by the real `assetbook run`.

The copy leaves the Ray search out (the candidate takes fixed hyper-parameters and small
batches instead): everything a champion is made of (training, evaluation notebook, gate,
MLflow aliases) stays real, and it costs about a minute instead of several.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import BIN, copy_example
from tests.specs import without_search


def champion_project(root: Path, days: int = 3, rows: int = 600) -> Path:
    """Copy the project into `root` and run it up to its champion (no serving); the state
    folder is wherever `ASSETBOOK_STATE` points."""
    copy_example(root)
    spec_file = root / "assets" / "loans.yaml"
    spec_file.write_text(yaml.safe_dump(without_search(yaml.safe_load(spec_file.read_text())),
                                        sort_keys=False))
    result = subprocess.run(
        [str(BIN / "assetbook"), "run", "--days", str(days), "--rows", str(rows), "--no-serve"],
        cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return root
