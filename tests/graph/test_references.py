"""A mistyped class, function or hyperparameter in a spec fails the definitions' load with
the spec's field and the closest name, before any step runs (it failed minutes into a run,
at the step that imported it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assetbook.errors import SpecError
from tests.conftest import build_defs

MISTAKES = [
    ("model: project.models:LoanClassifier\n    trainer: {max_epochs: 6",
     "model: project.models:LoanClasifier\n    trainer: {max_epochs: 6",
     "asset 'hyperparameters', field 'model': module 'project.models' has no 'LoanClasifier'; "
     "did you mean 'LoanClassifier'?"),
    ("schema: project.schemas:LoanApplications", "schema: project.schemas:LoanApplication",
     "asset 'validated_applications', field 'checks.0.schema': module 'project.schemas' has no "
     "'LoanApplication'; did you mean 'LoanApplications'?"),
    ("hidden: {type: choice", "hiden: {type: choice",
     "asset 'hyperparameters', field 'search.space.hiden': model 'project.models:LoanClassifier' "
     "takes no 'hiden'; did you mean 'hidden'? It takes: dropout, hidden, layers, lr, "
     "weight_decay."),
    ("register_as: loans_classifier", "register_as: loans_classifier\n    hyperparameters: "
     "{momentum: 0.9}",
     "asset 'candidate_model', field 'hyperparameters.momentum': model "
     "'project.models:LoanClassifier' takes no 'momentum'. It takes: "),
]


@pytest.mark.parametrize(("good", "bad", "expected"), MISTAKES,
                         ids=["model class", "schema class", "search key", "hyperparameter"])
def test_a_mistyped_name_fails_the_load_with_its_field(project_dir: Path, good: str, bad: str,
                                                       expected: str) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    assert good in spec.read_text()
    spec.write_text(spec.read_text().replace(good, bad, 1))
    with pytest.raises(SpecError, match=re.escape(f"assets/loans.yaml, {expected}")):
        build_defs(project_dir)


def test_a_users_own_values_are_not_read_as_references(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    assert "    config:\n      log_money: true\n" in spec.read_text()
    spec.write_text(spec.read_text().replace(
        "    config:\n      log_money: true\n",
        "    config:\n      log_money: true\n      transform: project.features:Nothing\n"))
    build_defs(project_dir)  # the notebook's config is data for the user's code, not a field


def test_the_example_loads_and_a_model_whose_init_is_open_is_left_to_its_step(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_defs(project_dir)  # every name the example's specs import is there
    (project_dir / "user_open_model.py").write_text(
        "from project.models import LoanClassifier\n\n\nclass Open(LoanClassifier):\n"
        "    def __init__(self, n_features: int, **options) -> None:\n"
        "        super().__init__(n_features, **options)\n")
    monkeypatch.syspath_prepend(str(project_dir))
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace(
        "model: project.models:LoanClassifier\n    trainer: {max_epochs: 6",
        "model: user_open_model:Open\n    trainer: {max_epochs: 6").replace(
        "hidden: {type: choice", "width: {type: choice"))
    build_defs(project_dir)  # `width` may reach LoanClassifier through **options: the step says
