"""A bento that answers the deployment's known request with a 500 is refused, and the refusal
carries the cause from the server's log (the response says only "an unexpected error")."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetbook.runners.serving.deployment import Deployer, DeploymentError, Probe, free_port
from tests.serving.echo import BROKEN


def test_a_failed_known_request_names_its_cause_from_the_servers_log(tmp_path: Path) -> None:
    folder = tmp_path / "deployment"
    folder.mkdir()
    (folder / "echo.py").write_text(BROKEN)
    deployer = Deployer(folder, free_port(), tmp_path / "bentoml", Probe("/answer", {}))
    try:
        with pytest.raises(DeploymentError) as refused:
            deployer.deploy("echo:Echo", "2")
    finally:
        deployer.stop_all()
    assert "failed the known request /answer: HTTP 500" in str(refused.value)
    assert "KeyError: \"['area_growth'] not in index\"" in str(refused.value)
    assert deployer.active() is None
