"""Stopping a deployment ends every process its servers started, even those outside the
server's process group and deaf to SIGTERM: BentoML's workers run in sessions of their own
(circus calls `setsid`), and a server too slow to stop them under load left them serving.
And it ends only those: a recorded server's pid may be another process's by now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import psutil

from assetbook.runners.serving.deployment import Deployer, Endpoint, free_port
from assetbook.runners.serving.processes import alive
from tests.processes import Identity, identities, processes, still_running, tree
from tests.serving.echo import SERVICE, echo_deployer

# A server that ignores SIGTERM, with a worker in a session of its own that ignores it too.
_DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
_SERVER = _DEAF + """import subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True)
print(worker.pid, flush=True)
time.sleep(600)
"""


def test_a_server_and_a_worker_deaf_to_sigterm_in_another_session_are_both_stopped(
        tmp_path: Path) -> None:
    port = free_port()
    with subprocess.Popen(
            [sys.executable, "-c", _SERVER, _DEAF + "time.sleep(600)", "--port", str(port)],
            stdout=subprocess.PIPE, text=True, start_new_session=True) as server:
        worker = int(server.stdout.readline())  # type: ignore[union-attr]
        try:
            deployer = _recorded(tmp_path, Endpoint("svc:1", "1", port, server.pid,
                                                    datetime.now(UTC).isoformat()))
            assert deployer.stop_all() == (False, 1)  # no nginx ran; one server served
            assert not alive(server.pid), "the server outlived stop_all"
            assert not alive(worker), "its worker, in another session, outlived stop_all"
            assert deployer.active() is None
        finally:
            for pid in (server.pid, worker):
                subprocess.run(["kill", "-9", str(pid)], capture_output=True, check=False)


def test_a_deploy_over_a_dead_server_whose_pid_is_reused_leaves_that_process_alone(
        tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "600"], start_new_session=True) as stranger:
        try:
            deployer = _recorded(tmp_path, Endpoint("svc:1", "1", free_port(), stranger.pid,
                                                    datetime.now(UTC).isoformat()))
            try:
                new = deployer.deploy(SERVICE, "2")
                assert deployer.active() == new
                # serving since the switch, not since its process started (seconds earlier)
                assert datetime.fromisoformat(new.started).timestamp() >= (
                    psutil.Process(new.pid).create_time() + 1)
            finally:
                deployer.stop_all()
            assert stranger.poll() is None, "the deploy killed a process it never started"
        finally:
            stranger.kill()


def test_the_workers_of_a_server_killed_outright_are_stopped_after_it(tmp_path: Path) -> None:
    """BentoML's workers outlive their server's SIGKILL (the OOM killer's, say) and serve on, in
    sessions of their own: the next deploy stops those of the server it replaces, and
    `stop_all` those of the last one."""
    deployer = echo_deployer(tmp_path, stop_timeout_s=5.0)
    try:
        first = _killed_outright(deployer.deploy(SERVICE, "2"))
        deployer.deploy(SERVICE, "2")
        assert not still_running(first), "a dead server's workers outlived the next deploy"
        last = _killed_outright(deployer.active())  # type: ignore[arg-type]
        deployer.stop_all()
        assert not still_running(last), "a dead server's workers outlived stop_all"
    finally:
        deployer.stop_all()


def _killed_outright(server: Endpoint) -> set[Identity]:
    """SIGKILL the server; its workers, which it leaves serving."""
    workers = identities(tree({server.pid}, processes()) - {server.pid})
    os.kill(server.pid, signal.SIGKILL)
    assert workers and still_running(workers) == {pid for pid, _ in workers}
    return workers


def _recorded(tmp_path: Path, endpoint: Endpoint) -> Deployer:
    """A deployer whose state says `endpoint` serves, as a deploy leaves it."""
    deployer = echo_deployer(tmp_path, stop_timeout_s=1.0)
    (deployer.folder / "deployment.json").write_text(json.dumps(
        {"active": asdict(endpoint), "history": [asdict(endpoint)]}))
    return deployer
