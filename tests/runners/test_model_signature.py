"""The search's check of its space against the model, from the model's source: the names it
takes where the source says them plainly, and the import (as before) where it does not; and
the search's driver left without PyTorch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assetbook.runners.model_signature import init_parameters
from tests.conftest import REPO

MODELS = '''
import torch

class Plain(torch.nn.Module):
    def __init__(self, n_features: int, hidden: int = 8, *, lr: float = 1e-3) -> None:
        super().__init__()

class Open(torch.nn.Module):
    def __init__(self, n_features: int, **options) -> None:
        super().__init__()

class Inherits(Plain):
    pass

def make():
    class Nested(torch.nn.Module):
        pass
    return Nested
'''


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "user_models_for_signature.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_models_for_signature"


def test_plain_init_gives_its_keyword_names_without_importing(models: str) -> None:
    assert init_parameters(f"{models}:Plain") == {"n_features", "hidden", "lr"}
    assert models not in sys.modules


@pytest.mark.parametrize("name", ["Open", "Inherits", "Nested", "Missing"])
def test_what_the_source_does_not_say_plainly_is_left_to_the_import(models: str,
                                                                   name: str) -> None:
    assert init_parameters(f"{models}:{name}") is None


def test_a_module_that_is_not_there_is_left_to_the_import() -> None:
    assert init_parameters("no_such_package_here.models:Net") is None


CHECK = """
import sys
from pathlib import Path
from assetbook.errors import AssetbookError
from assetbook.runners.tuning import check_space, load_dataset
from tests.runners.test_tuning import tune_job
job = tune_job(Path(sys.argv[1]), space={{"{name}": {{"type": "uniform", "low": 0.1,
                                                     "high": 0.9}}}})
try:
    check_space(job, load_dataset(job.training))
    print("accepted")
except AssetbookError as exc:
    print(exc)
print("torch imported" if "torch" in sys.modules else "no torch")
"""


@pytest.mark.parametrize(("name", "verdict"), [
    ("momentum", "rejects hyperparameters ['momentum']: its __init__ takes no momentum"),
    ("dropout", "accepted")])
def test_the_search_driver_checks_the_space_without_torch(tmp_path: Path, name: str,
                                                          verdict: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(CHECK.format(name=name)),
                             str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert verdict in lines[0]
    assert lines[-1] == "no torch"
