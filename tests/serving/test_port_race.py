"""A server's ports are picked free and bound later, by BentoML's process manager as by the
deployer, so another process can take one meanwhile (CI saw ZeroMQ's "Address already in
use" fail a deploy): such a server starts again on new ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from assetbook.runners.serving import deployment
from tests.serving.echo import SERVICE, echo_deployer


def test_a_server_whose_port_was_taken_meanwhile_starts_again_on_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployer = echo_deployer(tmp_path)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        given = iter([taken])  # the first server's port is taken as it starts
        monkeypatch.setattr(deployment, "free_port",
                            lambda free=deployment.free_port: next(given, None) or free())
        try:
            served = deployer.deploy(SERVICE, "2")
        finally:
            deployer.stop_all()
    assert served.port != taken and deployer.history() == [served]
    logs = tmp_path / "deployment" / "logs"
    assert "address already in use" in (logs / f"bento-{taken}.log").read_text().lower()
    assert sorted(logs.glob("bento-*.log")) == sorted(
        [logs / f"bento-{taken}.log", logs / f"bento-{served.port}.log"])
