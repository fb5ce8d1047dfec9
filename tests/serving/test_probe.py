"""A bento that answers the deployment's known request with a 500 is refused, and the refusal
carries the cause from the server's log (the response says only "an unexpected error")."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetbook.runners.serving.deployment import DeploymentError
from tests.serving.echo import BROKEN, SERVICE, echo_deployer


def test_a_failed_known_request_names_its_cause_from_the_servers_log(tmp_path: Path) -> None:
    deployer = echo_deployer(tmp_path, BROKEN)
    try:
        with pytest.raises(DeploymentError) as refused:
            deployer.deploy(SERVICE, "2")
    finally:
        deployer.stop_all()
    assert "failed the known request /answer: HTTP 500" in str(refused.value)
    assert "KeyError: \"['area_growth'] not in index\"" in str(refused.value)
    assert deployer.active() is None
    assert len(list((tmp_path / "deployment" / "logs").glob("bento-*.log"))) == 1  # no retry
