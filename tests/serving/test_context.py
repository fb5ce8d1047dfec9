"""A bento's build context: Assetbook's service unless the user brings one, its serving.json,
the wheels, and a bentofile that adds the user's settings to Assetbook's."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from assetbook.runners.serving.context import SERVICE, bentofile, requirements, write_context
from assetbook.serving.config import ServiceConfig, ServiceSettings
from tests.conftest import REPO

CONFIG = ServiceConfig(ServiceSettings("project.schemas:LoanApplications", ("label",),
                                       "project.features:make_features", {"log_money": True},
                                       "application", "applications"),
                       "loans_classifier:abc", "binary", (0, 1))


def test_requirements_are_public_pins_of_this_environment() -> None:
    pins = dict(line.split("==") for line in requirements())
    assert set(pins) == {"torch", "pytorch-lightning", "numpy", "pandas", "pandera", "pydantic"}
    assert not [version for version in pins.values() if "+" in version]  # not torch's +cpu


def test_the_users_settings_add_to_assetbooks() -> None:
    user = {"description": "Mine.", "labels": {"team": "risk"}, "include": ["extra.py"],
            "python": {"packages": ["scipy"]}}
    built = bentofile(user, "loans_service", ["wheels/a.whl"])
    assert built["service"] == "service:Api" and built["name"] == "loans_service"
    assert built["description"] == "Mine." and built["labels"] == {"team": "risk"}
    assert built["include"] == ["service.py", "serving.json", "extra.py"]
    assert built["python"]["lock_packages"] is False
    assert built["python"]["packages"] == [*requirements(), "scipy"]
    assert built["python"]["wheels"] == ["wheels/a.whl"]
    assert bentofile({}, "x", [])["description"] == "x, served by Assetbook."


def test_the_context_carries_the_config_the_wheels_and_the_users_service(
        tmp_path: Path) -> None:
    custom = tmp_path / "bentos" / "loans"
    custom.mkdir(parents=True)
    (custom / "bentofile.yaml").write_text("description: Loans.\n")
    path = write_context(tmp_path / "context", CONFIG, "loans_service", REPO, ("project",),
                         custom)
    built = yaml.safe_load(path.read_text())
    assert built["description"] == "Loans."
    wheels = built["python"]["wheels"]
    assert sorted(Path(wheel).name.split("-")[0] for wheel in wheels) == [
        "assetbook_serving", "project"]
    assert all((tmp_path / "context" / wheel).is_file() for wheel in wheels)
    assert ServiceConfig.load(tmp_path / "context" / "serving.json") == CONFIG
    assert json.loads((tmp_path / "context" / "serving.json").read_text())["classes"] == [0, 1]
    assert (tmp_path / "context" / "service.py").read_text() == SERVICE

    (custom / "service.py").write_text("# the user's own service\n")
    write_context(tmp_path / "again", CONFIG, "loans_service", REPO, (), custom)
    assert (tmp_path / "again" / "service.py").read_text() == "# the user's own service\n"
