"""A model file's config is read without torch where the file carries its config record (what
the packaging reads), and through torch from a file written before the record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assetbook.models import TabularNet
from assetbook.serving.model_file import (
    FORMAT,
    ModelFile,
    Predictor,
    Preprocessing,
    UnscorableRowsError,
)
from assetbook.serving.target import Target
from tests.conftest import REPO

INFO = ModelFile("assetbook.models:TabularNet", {"hidden": 8},
                 Preprocessing(("age", "salary"), (40.0, 5e4), (10.0, 2e4)),
                 Target("label", "binary", (0, 1)), {"val_loss": 0.41})

READ_WITHOUT_TORCH = """
import json, sys
from assetbook.serving.model_file import ModelFile
print(json.dumps(ModelFile.read(sys.argv[1]).to_dict()))
print("torch imported" if "torch" in sys.modules else "no torch")
"""


def saved(path: Path) -> Path:
    INFO.save(path, TabularNet(n_features=2, hidden=8).state_dict())
    return path


def test_the_config_is_read_without_torch_and_the_weights_still_load(tmp_path: Path) -> None:
    path = saved(tmp_path / "model.pt")
    result = subprocess.run([sys.executable, "-c", READ_WITHOUT_TORCH, str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True)
    config, torch_line = result.stdout.splitlines()
    assert ModelFile._from_payload(path, json.loads(config)) == INFO
    assert torch_line == "no torch"
    predictor = Predictor.load(path)  # torch's own reader takes the file with its record
    assert predictor.info == INFO
    assert torch.load(path, weights_only=True)["format"] == FORMAT


def test_a_file_written_before_the_config_record_is_read_through_torch(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "old.pt"
    torch.save({**INFO.to_dict(), "state_dict": TabularNet(n_features=2, hidden=8).state_dict()},
               path)
    assert ModelFile.read(path) == INFO


def test_predict_refuses_rows_whose_features_are_no_finite_number(tmp_path: Path) -> None:
    """A division by zero in the features makes inf: the rows are named, not answered NaN."""
    predictor = Predictor.load(saved(tmp_path / "model.pt"))
    rows = pd.DataFrame({"age": [30.0, 41.0, 52.0], "salary": [4e4, np.inf, 6e4]},
                        index=[10, 11, 12])
    assert predictor.predict(rows.drop(index=11)).shape == (2, 2)  # probabilities
    with pytest.raises(UnscorableRowsError, match=r"row 11: feature salary is inf"):
        predictor.predict(rows)
