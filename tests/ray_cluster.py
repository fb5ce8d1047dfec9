"""One Ray cluster per test process, started as a user starts one (`ray start --head` on
loopback), which the tests' searches join through $RAY_ADDRESS, as a user's do.

A search that starts its own local Ray spends 8 to 18 s of a loaded 2-core machine on it
(a GCS, a raylet and six Python daemons), and the suite runs a search in about twenty
pipelines; on the loaded machine such a start also fails (Ray 2.60's raylet gives its agents
a fixed 15 s, which they passed at load 5 to 10), three tries in a row. The search's own local
Ray stays tested where it matters, with `private_ray` or `local_ray_environment`: started
again after a start that timed out, gone with a killed driver (tests/runners/test_tuning.py),
and stopped with a search past its timeout (tests/graph/test_timeouts.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import BIN
from tests.ports import free_port

ADDRESS = "RAY_ADDRESS"
# The test workers start their nodes one at a time: three starting together (each a GCS, a
# raylet and Python agents importing) kept each other past the raylet's 15 s wait.
START_LOCK = Path(tempfile.gettempdir()) / "assetbook-tests-ray-start.lock"
# Node addresses on loopback, no auth token to manage, nothing reported home. Set for the whole
# test process as this module is loaded (a plugin of tests/conftest.py): Ray reads the first
# when it is imported, and a driver that imported it before would dial the cluster at the
# machine's routable address, where a loopback cluster does not listen (it hung 14 minutes).
ENVIRONMENT = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
               "RAY_raylet_start_wait_time_s": "120",  # a loaded machine starts nodes slowly
               # The GCS forgets a finished job's dead actors after 5 minutes; tests read where
               # a search's trials ran after the rest of its pipeline (7 minutes under load).
               "RAY_gcs_actor_table_min_duration_ms": str(3_600_000)}
os.environ.update(ENVIRONMENT)
# For the nodes alone: a raylet prestarts a worker per CPU for its first driver, and they idle
# for the rest of the session (~0.6 CPU-s a minute each): Tune's trials and Ray Train's workers
# carry runtime envs of their own and start their own, which the search's local Ray avoids too
# (assetbook/runners/tuning.py). Nor do the nodes start a log monitor (~1 CPU-s a minute, idle):
# it sends workers' output to drivers, and every driver here connects with log_to_driver=False.
NODE_ENVIRONMENT = {"RAY_prestart_worker_first_driver": "0"}


def stop_cluster(temp_dir: str, port: int | None = None) -> None:
    """`ray stop` stops every Ray on the machine (a parallel test's, a user's): kill only the
    processes of this cluster, whose command lines name its temp dir, and their children (a
    raylet's agents and workers rename themselves `ray::...`); with the head's `port`, also its
    Ray Client server, whose command line names only the head's address."""
    def ours(arg: str) -> bool:
        return temp_dir in arg or (port is not None and arg.startswith("--address=")
                                   and arg.endswith(f":{port}"))

    found = [p for p in psutil.process_iter(["cmdline"])
             if p.pid != os.getpid() and any(ours(arg) for arg in p.info["cmdline"] or [])]
    for process in list(found):
        with contextlib.suppress(psutil.NoSuchProcess):
            found += process.children(recursive=True)
    for process in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def cluster_processes(address: str) -> dict[int, str]:
    """The processes of the cluster at `address` (pid -> command line): its nodes' daemons,
    whose command lines name the GCS address, and what they started (a raylet's workers
    rename themselves `ray::...`: a trial is `ray::ImplicitFunc...`)."""
    flag = f"--gcs-address={address}"
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        if any(flag in arg for arg in process.info["cmdline"] or []):
            found[process.pid] = process
            with contextlib.suppress(psutil.NoSuchProcess):
                found.update((child.pid, child) for child in process.children(recursive=True))
    commands = {}
    for pid, process in found.items():
        with contextlib.suppress(psutil.NoSuchProcess):
            commands[pid] = " ".join(process.cmdline())
    return commands


def started(command: list[str], temp_dir: str, port: int | None = None,
            attempts: int = 5) -> None:
    """Run a node's start, again if it fails: on a machine loaded by the suite's other workers,
    a raylet gives up waiting for its agents (slow to import) and exits, "Timed out waiting
    for file .../metrics_agent_port_..."; a later try, when the load has moved, succeeds."""
    for attempt in range(1, attempts + 1):
        with open(START_LOCK, "a") as lock:  # one node starting at a time on this machine
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                  env={**os.environ, **NODE_ENVIRONMENT})
        if done.returncode == 0:
            return
        stop_cluster(temp_dir, port)
        if attempt == attempts:
            raise RuntimeError(f"{' '.join(command[:3])} failed {attempts} times; last:\n"
                               f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")


@contextlib.contextmanager
def head_node(cpus: int = 2, resources: dict[str, float] | None = None) -> Iterator[str]:
    """`ray start --head` on a free loopback port; yields its address, stops it after."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must be short
    start = [str(BIN / "ray"), "start", "--head", f"--port={port}", f"--num-cpus={cpus}",
             "--node-ip-address=127.0.0.1", *_resources(resources),
             "--include-dashboard=false", "--include-log-monitor=false", f"--temp-dir={temp_dir}"]
    try:
        started(start, temp_dir, port)
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(temp_dir, port)
        shutil.rmtree(temp_dir, ignore_errors=True)


# `ray start --address` refuses to add a node while RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is 0 (see
# ENVIRONMENT), and with it on turns 127.0.0.1 into the machine's routable address, where a
# loopback head does not listen. So a node joins as `ray start` starts it, through Ray's `Node`
# (as ray.cluster_utils does for Ray's own tests), with the loopback address left as it is.
ADD_NODE = """
import json, sys
from ray._private.node import Node
from ray._private.parameter import RayParams

address, cpus, resources, temp_dir = sys.argv[1:5]
Node(RayParams(gcs_address=address, node_ip_address="127.0.0.1", num_cpus=int(cpus),
               resources=json.loads(resources), temp_dir=temp_dir, node_manager_port=0,
               include_log_monitor=False),
     head=False, shutdown_at_exit=False, spawn_reaper=False)
"""


@contextlib.contextmanager
def added_node(address: str, cpus: int = 1, resources: dict[str, float] | None = None
               ) -> Iterator[None]:
    """Another node of the cluster at `address`, on loopback with a temp dir of its own (and
    so processes of its own to stop after)."""
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    start = [str(BIN / "python"), "-c", ADD_NODE, address, str(cpus),
             json.dumps(resources or {}), temp_dir]
    try:
        started(start, temp_dir)
        yield
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """Two nodes of one CPU each on this machine, the head with the resource `head` and the
    other with `second`: two 1-CPU tasks or actors land one on each. Yields the address."""
    with head_node(1, {"head": 1}) as address, added_node(address, 1, {"second": 1}):
        yield address


def _resources(resources: dict[str, float] | None) -> list[str]:
    return [f"--resources={json.dumps(resources)}"] if resources else []


@pytest.fixture(scope="session", autouse=True)
def _early_cluster() -> Iterator[str | None]:
    """Under pytest-xdist, each worker's cluster starts at its first test (one worker at a
    time, see START_LOCK), before the heavy modules load the machine: Ray 2.60's raylet waits
    a fixed 15 s for its dashboard agent, which imported for longer at load 10 on 2 cores."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield None
        return
    with head_node() as address:
        yield address


@pytest.fixture(scope="session")
def shared_ray(_early_cluster: str | None) -> Iterator[str]:
    """The cluster, its address in $RAY_ADDRESS for this process and what it starts."""
    with contextlib.ExitStack() as stack:
        address = _early_cluster or stack.enter_context(head_node())
        os.environ[ADDRESS] = address
        try:
            yield address
        finally:
            os.environ.pop(ADDRESS, None)


@contextlib.contextmanager
def private_ray() -> Iterator[None]:
    """Within: searches start their own local Ray, as without a cluster."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(ADDRESS, raising=False)
        yield


def local_ray_environment(*python_path: str) -> dict[str, str]:
    """For a subprocess whose searches start their own local Ray (a new user's environment):
    no cluster address, Ray's own waits; `python_path` first on its import path."""
    env = {k: v for k, v in os.environ.items()
           if k not in (ADDRESS, "RAY_raylet_start_wait_time_s")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*python_path, env.get("PYTHONPATH")]))
    return env
