"""A deployment whose front port another process listens on fails before it starts anything,
and says which port and what to do (nginx's own error was five lines of `bind() failed`)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from assetbook.runners.serving.deployment import Deployer, DeploymentError, Probe


def test_a_taken_front_port_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        deployer = Deployer(tmp_path / "deployment", port, tmp_path / "bentoml",
                            Probe("/predict", {}))
        with pytest.raises(DeploymentError) as raised:
            deployer.deploy("loans_classifier_service:latest", "1")
    assert str(raised.value) == (
        f"port {port} on 127.0.0.1 is taken by another process (another project serving "
        "there?): stop it (`assetbook stop` in that project), or serve this one elsewhere: "
        "the deployment's `port:`, or $ASSETBOOK_SERVE_PORT")
    assert deployer.history() == [] and deployer.active() is None
    assert not (tmp_path / "deployment" / "logs").exists()  # no bento server was started
