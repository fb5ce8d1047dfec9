"""One Ray cluster per test process, started as a user starts one (`ray start --head` on
loopback), which the tests' searches join through $RAY_ADDRESS, as a user's do.

A search that starts its own local Ray spends 8 to 18 s of a loaded 2-core machine on it
(a GCS, a raylet and six Python daemons), and the suite runs a search in about twenty
pipelines. The search's own local Ray, started and stopped with its step, stays tested
where it matters: the wheel's projects (a new user's environment has no $RAY_ADDRESS), the
killed search and the search past its timeout leave the shared cluster with `private_ray`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import psutil
import pytest

from tests.conftest import BIN
from tests.ports import free_port

ADDRESS = "RAY_ADDRESS"
# Node addresses on loopback, no auth token to manage, nothing reported home. Set for the whole
# test process as this module is loaded (a plugin of tests/conftest.py): Ray reads the first
# when it is imported, and a driver that imported it before would dial the cluster at the
# machine's routable address, where a loopback cluster does not listen (it hung 14 minutes).
ENVIRONMENT = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
os.environ.update(ENVIRONMENT)


def stop_cluster(temp_dir: str) -> None:
    """`ray stop` stops every Ray on the machine (a parallel test's, a user's): kill only the
    processes of this cluster, whose command lines name its temp dir."""
    for process in psutil.process_iter(["cmdline"]):
        if any(temp_dir in arg for arg in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


@contextlib.contextmanager
def head_node(cpus: int = 2) -> Iterator[str]:
    """`ray start --head` on a free loopback port; yields its address, stops it after."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must be short
    start = [str(BIN / "ray"), "start", "--head", f"--port={port}", f"--num-cpus={cpus}",
             "--node-ip-address=127.0.0.1",
             "--include-dashboard=false", f"--temp-dir={temp_dir}"]
    try:
        subprocess.run(start, check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_ray() -> Iterator[str]:
    """The cluster, its address in $RAY_ADDRESS for this process and what it starts."""
    with head_node() as address:
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
