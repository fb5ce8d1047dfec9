"""A package asset's service comes from the spec: the schema of the validate asset upstream
of the champion's model, the transform it names; mistakes fail at load time with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assetbook.errors import SpecError
from assetbook.kinds.package.served import resolve_served
from assetbook.spec.loader import load_project


def edit(root: Path, old: str, new: str) -> None:
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))


def load_error(root: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_project(root)
    return str(info.value)


def test_the_loans_service_follows_the_validated_schema(project_dir: Path) -> None:
    served = resolve_served(load_project(project_dir), "bento")
    assert (served.train, served.validate, served.schema, served.target) == (
        "candidate_model", "validated_applications", "project.schemas:LoanApplications", "label")
    assert served.transform == "project.features:make_features"
    assert served.packages == ("project",)


def test_without_service_settings_or_bento_folder_the_defaults_serve(project_dir: Path) -> None:
    path = project_dir / "assets" / "loans.yaml"
    spec = yaml.safe_load(path.read_text())
    del spec["assets"]["bento"]["service"], spec["assets"]["bento"]["bento"]
    path.write_text(yaml.safe_dump(spec))
    spec = load_project(project_dir).assets["bento"].spec
    assert (spec.service.record, spec.service.batch, spec.service.transform) == (
        "row", "rows", None)
    assert spec.bento is None


@pytest.mark.parametrize(("old", "new", "message"), [
    ("      transform: project.features:make_features   # what the features notebook calls\n",
     "", "field 'service': Value error, `options` are keyword arguments of `transform`"),
    ("      batch: applications", "      batch: application",
     "`record` and `batch` are both 'application'"),
    ("    service:  ", "    service:\n      schema: features\n     ",
     "field 'service.schema': 'features' is not a validate asset with a schema check; declared "
     "validate assets: validated_applications"),
    ("    bento: bentos/loans", "    bento: bentos/nothing",
     "field 'bento': 'bentos/nothing' holds neither bentofile.yaml nor service.py"),
    ("    inputs: {champion: same}\n    service:", "    inputs: {candidate_model: same}\n"
     "    service:", "field 'inputs': 'candidate_model' is not a promote asset"),
])
def test_service_mistakes_fail_at_load_time(project_dir: Path, old: str, new: str,
                                            message: str) -> None:
    edit(project_dir, old, new)
    error = load_error(project_dir)
    assert error.startswith("assets/loans.yaml, asset 'bento'"), error
    assert message in error


def test_two_validate_assets_upstream_need_a_choice(project_dir: Path) -> None:
    edit(project_dir, "  features:\n", """  validated_again:
    kind: validate
    partitions: days
    inputs: {raw_applications: same}
    checks: [{schema: project.schemas:LoanApplications}]

  features:
""")
    edit(project_dir, "      validated_applications: same\n",
         "      validated_applications: same\n      validated_again: same\n")
    assert ("found 2 validate assets upstream of 'candidate_model' (validated_again, "
            "validated_applications): name the one whose schema types a request as "
            "`service: {schema: <asset>}`") in load_error(project_dir)
    edit(project_dir, "    service:  ", "    service:\n      schema: validated_again\n     ")
    assert resolve_served(load_project(project_dir), "bento").validate == "validated_again"
