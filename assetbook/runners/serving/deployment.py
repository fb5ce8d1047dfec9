"""Blue/green deployment of bentos behind nginx on 127.0.0.1.

A new bento is started on a free port beside the one serving, checked on `/readyz` and with
a known request, and only then does nginx switch to it (`nginx -s reload` lets in-flight
requests finish on the old upstream); the old server stops after a drain period. If the new
one fails a check it is stopped, and the old one never stopped serving. A server that
could not bind a port it was given (its own, or one BentoML's process manager chose: both
are picked free and bound later, so another process can take them meanwhile) starts again
on new ones.

From its start to the switch the new server is recorded as `pending`, with the deployer's
pid: a deployer killed midway leaves a record, and the next one settles it (`recover`)
before doing anything else, so no server is left running unrecorded and deployment.json
always ends up naming what answers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from assetbook.atomic import atomic_path
from assetbook.errors import AssetbookError
from assetbook.runners.serving.nginx import nginx_binary, nginx_config
from assetbook.runners.serving.processes import (
    Identity,
    alive,
    bentoml_homes,
    children,
    descendants,
    exited,
    left_running,
)
from assetbook.serving.recording import MONITORING_ENV

MONITORING_FOLDER = "monitoring"  # BentoML's monitoring log: the recorded predictions
DRAIN_TIMEOUT_S = 60.0  # nginx's proxy_read_timeout: no request to the old upstream outlives it
SERVER_IDLE_S = 75  # the server's keep-alive, longer than nginx's (FRONT_IDLE_S)


@functools.cache
def _loopback() -> httpx.Client:
    """The client of every check of a local server: a new client loads the CA bundle (~30 ms
    of CPU) and the checks poll. None of its connections is kept alive, so each answer comes
    from the server or route of the moment."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))


class DeploymentError(AssetbookError):
    """A new bento failed its checks (the old one keeps serving), or its port is taken."""


class PortTaken(DeploymentError):
    """A new bento exited as it started: a port it was given was taken meanwhile."""


START_ATTEMPTS = 3  # each on ports picked anew
PORT_TAKEN = "address already in use"  # what uvicorn and ZeroMQ (BentoML's circus) log


@dataclass(frozen=True)
class Endpoint:
    bento: str
    model_version: str
    port: int
    pid: int
    started: str  # when nginx switched to it (until then: when its process started)
    approved_by: str | None = None  # who or what promoted it here, in a later environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Probe:
    """The known request a new server must answer before it takes traffic."""

    path: str
    body: dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    """Whether nginx could listen on 127.0.0.1:port (nobody listens there)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Deployer:
    """Owns `<folder>`: deployment.json (what serves, and the history), nginx, server logs."""

    def __init__(self, folder: Path, front_port: int, bentoml_home: Path, probe: Probe,
                 ready_timeout_s: float = 180.0, stop_timeout_s: float = 10.0) -> None:
        self.folder, self.front_port, self.bentoml_home = folder, front_port, bentoml_home
        self.probe, self.ready_timeout_s = probe, ready_timeout_s
        self.stop_timeout_s = stop_timeout_s  # a server's time to stop before it is killed
        self.nginx_prefix = folder / "nginx"
        self._started: dict[int, subprocess.Popen] = {}  # children of this process: reapable

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    @property
    def served_url(self) -> str:
        """Where the front listens: the port of the last switch, which a shell without the
        port's variable set then would not give."""
        return f"http://127.0.0.1:{self._read().get('front_port', self.front_port)}"

    @property
    def monitoring(self) -> Path:
        """Where every server of this deployer records what it answered."""
        return self.folder / MONITORING_FOLDER

    # -- state -------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        path = self.folder / "deployment.json"
        return json.loads(path.read_text()) if path.exists() else {"active": None, "history": []}

    def _write(self, state: dict[str, Any]) -> None:
        with atomic_path(self.folder / "deployment.json") as tmp:
            tmp.write_text(json.dumps(state, indent=2))

    def _update(self, **fields: Any) -> None:
        state = self._read()
        state.update(fields)
        self._write(state)

    def _commit(self, new: Endpoint) -> None:
        """Record `new` as what serves: the switch is done."""
        state = self._read()
        state.update(front_port=self.front_port, active=asdict(new), pending=None)
        state["history"].append(asdict(new))
        self._write(state)

    def active(self) -> Endpoint | None:
        active = self._read()["active"]
        return Endpoint(**active) if active else None

    def history(self) -> list[Endpoint]:
        return [Endpoint(**entry) for entry in self._read()["history"]]

    # -- deploy ------------------------------------------------------------------------------

    def deploy(self, bento: str, model_version: str, approved_by: str | None = None
               ) -> Endpoint:
        """Start `bento` beside the current server, check it, switch nginx, stop the old."""
        nginx = nginx_binary()
        self.recover()
        if not self._nginx_running() and not _bindable(self.front_port):
            raise DeploymentError(
                f"port {self.front_port} on 127.0.0.1 is taken by another process (another "
                "project serving there?): stop it (`assetbook stop` in that project), or serve "
                "this one elsewhere: the deployment's `port:`, or $ASSETBOOK_SERVE_PORT")
        new = self._started_and_checked(bento, model_version, approved_by)
        old = self.active()
        draining = self._nginx_workers()
        self._route(nginx, new.port)
        new = replace(new, started=_now())  # serving since: what status and the rule count
        self._commit(new)
        if old and old.port != new.port:  # a dead server's port may be the new one's
            if self._serves(old):
                self._drained(draining)
            self._retire([old])
        return new

    def _started_and_checked(self, bento: str, model_version: str, approved_by: str | None
                             ) -> Endpoint:
        """A new server that passed its checks, recorded as pending; started again where a
        port it was given was taken."""
        for _ in range(START_ATTEMPTS - 1):
            with contextlib.suppress(PortTaken):
                return self._start_and_check(bento, model_version, approved_by)
        return self._start_and_check(bento, model_version, approved_by)

    def _start_and_check(self, bento: str, model_version: str, approved_by: str | None
                         ) -> Endpoint:
        """One start: a server that fails its checks is stopped."""
        new = self._start(bento, model_version, approved_by)
        self._update(pending={"endpoint": asdict(new), "deployer": os.getpid()})
        try:
            self._check(new)
        except DeploymentError:
            self._stop(new.pid)
            self._update(pending=None)
            raise
        return new

    def _start(self, bento: str, model_version: str, approved_by: str | None) -> Endpoint:
        port = free_port()
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BENTOML_HOME": str(self._server_home(port)),
               "BENTOML_DO_NOT_TRACK": "true", MONITORING_ENV: str(self.monitoring)}
        with (logs / f"bento-{port}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1",
                 "--port", str(port), "--timeout-keep-alive", str(SERVER_IDLE_S)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.folder,
            )
        self._started[process.pid] = process
        return Endpoint(bento, model_version, port, process.pid, _now(), approved_by)

    def _server_home(self, port: int) -> Path:
        """A BentoML home of the server's own, linking the shared store (bentos, models).
        BentoML empties `<home>/prometheus_multiproc_dir` as a server starts: servers sharing
        a home (blue and green, staging and production) would wipe, then report, each other's
        metrics. Homes of servers no longer serving are removed."""
        homes = self.folder / "homes"
        active = self.active()
        for old in homes.glob("*") if homes.is_dir() else ():
            if not active or old.name != str(active.port):
                shutil.rmtree(old, ignore_errors=True)
        home = self._home(port)
        home.mkdir(parents=True)
        for store in ("bentos", "models"):
            (self.bentoml_home / store).mkdir(parents=True, exist_ok=True)
            (home / store).symlink_to(self.bentoml_home / store, target_is_directory=True)
        return home

    def _home(self, port: int) -> Path:
        return self.folder / "homes" / str(port)

    def _bento_processes(self) -> dict[int, set[int]]:
        """The live processes of each server this folder started, by the server's port."""
        by_port: dict[int, set[int]] = {}
        for pid, home in bentoml_homes():
            if home.parent == self.folder / "homes" and home.name.isdigit():
                by_port.setdefault(int(home.name), set()).add(pid)
        return by_port

    def _running(self, pid: int) -> bool:
        """Polling a server this deployer started reaps it once it exits, so none is left a
        zombie."""
        process = self._started.get(pid)
        return process.poll() is None if process else alive(pid)

    def _serves(self, endpoint: Endpoint) -> bool:
        """Whether the endpoint's server still runs: its pid is alive and still that server's
        (a pid recorded long ago may belong to another process by now)."""
        try:
            command = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return self._running(endpoint.pid) and f"--port\0{endpoint.port}\0".encode() in command

    def recover(self) -> None:
        """Settle what a killed deployer left: its `pending` server is the active one if
        nginx already routes to it, else it is stopped (and nginx routed to the active one
        again, in case the config was rewritten but not yet loaded); a former server that
        outlived its drain is stopped."""
        pending = self._read().get("pending")
        if pending and not alive(pending["deployer"]):
            new = Endpoint(**pending["endpoint"])
            if self._serves(new) and self._routed_port() == new.port:
                self._commit(new)
            else:
                active = self.active()
                if not active or new.port != active.port:
                    self._retire([new])
                self._update(pending=None)
                if active and self._nginx_running():
                    self._route(nginx_binary(), active.port)
        active = self.active()
        if active:
            self._retire([former for former in self.history() if former.port != active.port])

    def _check(self, endpoint: Endpoint) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if not self._running(endpoint.pid):
                log = self._log_tail(endpoint)
                error = PortTaken if PORT_TAKEN in log.lower() else DeploymentError
                raise error(f"bento {endpoint.bento} exited while starting; log:\n{log}")
            try:
                if _loopback().get(f"{endpoint.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # a refused connection costs next to nothing
        else:
            raise DeploymentError(f"bento {endpoint.bento} not ready on {endpoint.url}/readyz "
                                  f"after {self.ready_timeout_s:.0f}s; log:\n"
                                  f"{self._log_tail(endpoint)}")
        response = _loopback().post(f"{endpoint.url}{self.probe.path}", json=self.probe.body,
                                    timeout=30)
        answered = response.json() if response.status_code == 200 else {}
        if answered.get("model_version") != endpoint.model_version:
            raise DeploymentError(  # the log holds a 500's cause: the response hides it
                f"bento {endpoint.bento} failed the known request {self.probe.path}: HTTP "
                f"{response.status_code} {response.text[:300]} (expected model version "
                f"{endpoint.model_version}); log:\n{self._log_tail(endpoint)}")

    def _log_tail(self, endpoint: Endpoint) -> str:
        return (self.folder / "logs" / f"bento-{endpoint.port}.log").read_text()[-3000:]

    # -- nginx -------------------------------------------------------------------------------

    def _route(self, nginx: str, upstream_port: int) -> None:
        """Point nginx at the upstream: start it, or reload it gracefully."""
        prefix = self.nginx_prefix
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        config = prefix / "nginx.conf"
        with atomic_path(config) as tmp:
            tmp.write_text(nginx_config(prefix, self.front_port, upstream_port))
        base = [nginx, "-p", str(prefix), "-c", str(config)]
        result = subprocess.run(base + (["-s", "reload"] if self._nginx_running() else []),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DeploymentError(f"nginx failed: {result.stderr.strip()}")
        self._wait_for_front(upstream_port)

    def _nginx_workers(self) -> set[int]:
        pid_file = self.nginx_prefix / "nginx.pid"
        return children(int(pid_file.read_text().strip() or 0)) if pid_file.exists() else set()

    def _drained(self, workers: set[int]) -> None:
        """Wait until nginx's workers from before the reload have finished their in-flight
        requests to the old upstream and exited (reload lets them), at most DRAIN_TIMEOUT_S."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _nginx_running(self) -> bool:
        pid_file = self.nginx_prefix / "nginx.pid"
        return pid_file.exists() and alive(int(pid_file.read_text().strip() or 0))

    def _routed_port(self) -> int | None:
        """The upstream port the front answers from now (None: it does not answer)."""
        try:
            response = _loopback().get(f"{self.url}/readyz", timeout=2)
        except httpx.HTTPError:
            return None
        port = response.headers.get("x-upstream", "").rpartition(":")[2]
        return int(port) if port.isdigit() else None

    def _wait_for_front(self, upstream_port: int, timeout_s: float = 15.0) -> None:
        """Reload is asynchronous: wait until the front answers from the new upstream."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                response = _loopback().get(f"{self.url}/readyz", timeout=2)
                if response.headers.get("x-upstream") == f"127.0.0.1:{upstream_port}":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise DeploymentError(f"nginx on {self.url} did not switch to port {upstream_port}")

    # -- stop --------------------------------------------------------------------------------

    def _stop(self, pid: int) -> None:
        """Stop a server and every process under it. BentoML's workers run in sessions of
        their own (circus calls `setsid`), so the group's SIGTERM reaches the server alone,
        which then stops them; what is left after the wait (a server too slow under load,
        orphaned workers) is killed, and waited for."""
        under = descendants(pid)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self._gone(pid, under, self.stop_timeout_s):
            return
        under |= descendants(pid)  # workers started meanwhile
        for member in left_running(pid, under):  # the server too, as its group's leader
            with contextlib.suppress(ProcessLookupError):  # it may exit just before the kill
                os.kill(member, signal.SIGKILL)
        self._gone(pid, under, timeout_s=5.0)

    def _retire(self, endpoints: list[Endpoint]) -> int:
        """Stop servers no longer wanted, and what they left: the workers of a server that
        died serve on, outside its group and no longer under it (BentoML starts them in
        sessions of their own), known by the server's home in their environment. Returns
        how many were serving."""
        serving = [endpoint for endpoint in endpoints if self._serves(endpoint)]
        for endpoint in serving:
            self._stop(endpoint.pid)
        ports = {endpoint.port for endpoint in endpoints}
        orphans = {pid for port, pids in self._bento_processes().items() if port in ports
                   for pid in pids}
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in orphans:
            if not exited(pid, self.stop_timeout_s):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return len(serving)

    def _gone(self, pid: int, under: set[Identity], timeout_s: float) -> bool:
        """Whether the server, its group and the processes that were under it all exit
        within the time."""
        deadline = time.monotonic() + timeout_s
        while self._running(pid) or left_running(pid, under):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def stop_all(self) -> tuple[bool, int]:
        """Stop nginx and every bento server this folder started, a pending one included;
        return once they are gone (nginx's `quit` only asks it to finish and exit). Returns
        whether nginx ran, and how many bento servers served."""
        pid_file = self.nginx_prefix / "nginx.pid"
        nginx_pid = int(pid_file.read_text().strip() or 0) if pid_file.exists() else 0
        nginx_ran = bool(nginx_pid) and alive(nginx_pid)
        if pid_file.exists():
            subprocess.run([nginx_binary(), "-p", str(self.nginx_prefix), "-c",
                            str(self.nginx_prefix / "nginx.conf"), "-s", "quit"],
                           capture_output=True, check=False)
            if nginx_pid and not exited(nginx_pid, 15):
                os.kill(nginx_pid, signal.SIGTERM)  # fast shutdown: drops what is left
                exited(nginx_pid, 5)
        pending = self._read().get("pending")
        started = [*self.history(), *([Endpoint(**pending["endpoint"])] if pending else [])]
        served = self._retire(started)
        self._update(active=None, pending=None)
        return nginx_ran, served


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
