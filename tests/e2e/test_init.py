"""`assetbook init` and a first command as a new user types them, refused with a one-line
reason and no traceback. A scaffold's first run, its status and a second run are in
test_wheel.py, with Assetbook installed from its wheel."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd

from tests.conftest import BIN


def assetbook(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "assetbook"), *args], cwd=cwd, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = assetbook(tmp_path, "init", ".")
    assert result.returncode == 1
    assert result.stderr == (f"assetbook: error: {tmp_path} is not an empty folder: choose a "
                             "new path, `assetbook init` never overwrites\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_init_on_data_without_the_target_column_names_the_columns(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_csv(tmp_path / "data" / f"{day}.csv",
                                                            index=False)
    result = assetbook(tmp_path, "init", "new", "--data", "data", "--target", "label")
    assert result.returncode == 1
    assert result.stderr == ("assetbook: error: --target 'label' is not a column of the data. "
                             "Columns: x, y\n")
    assert not (tmp_path / "new").exists()


def test_spec_error_is_reported_without_a_traceback(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("notebook: notebooks/", "notebok: notebooks/"))
    result = assetbook(project_dir, "run")
    assert result.returncode == 1
    assert "assetbook: error: assets/loans.yaml, asset 'features', field 'notebok'" in (
        result.stderr)
    assert "Traceback" not in result.stderr
