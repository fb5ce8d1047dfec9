"""The two waits of opening a notebook on real data, each against the same work written by hand,
in one run on a small materialized project (the loans example sped up as the tests do it,
materialized by `assetbook run --days N --rows 300 --no-serve`):

(1) `assetbook notebook features --partition K --print`, typed in the project folder, to the
    parameters printed; by hand: a Python process that asks the Dagster instance whether the
    day's validated file is stored and prints its path in the artifacts folder.
(2) `assetbook notebook features --partition K` (JupyterLab) to a kernel, started through the
    server's REST API, that has run `df = load("features", partition=K)`; by hand: JupyterLab
    started with the same flags but the injecting contents manager, a kernel, and
    `df = pd.read_parquet(<the stored file>)`.

Both are what a user waits for each time a notebook is opened on a real partition; the ratios
are what Assetbook's resolution of that partition (spec, Dagster instance, stored files) adds
to Python, Dagster and Jupyter themselves. Prints the median of --repeat tries of each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import httpx
from jupyter_client import BlockingKernelClient
from jupyter_core.paths import jupyter_runtime_dir

from assetbook.resources.state import StateFolder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' example project and process helpers
from tests.conftest import BIN, copy_example  # noqa: E402
from tests.e2e.servers import assetbook, free_port  # noqa: E402
from tests.processes import processes, tree  # noqa: E402
from tests.specs import speed_up  # noqa: E402

ASSET, UPSTREAM, ROWS = "features", "validated_applications", 300
NOTEBOOK = "notebooks/features.ipynb"
HAND_PRINT = """import sys
import dagster as dg
home, artifacts, key = sys.argv[1:]
with dg.DagsterInstance.from_config(home) as instance:
    assert key in instance.get_materialized_partitions(dg.AssetKey("validated_applications"))
print(f"{artifacts}/validated_applications/{key}.parquet")
"""
ADDRESS = re.compile(r"Jupyter: (http://127\.0\.0\.1:\d+)/lab/tree/\S+\?token=(\w+)")
T = TypeVar("T")


def materialized_project(folder: Path, days: int) -> tuple[Path, StateFolder]:
    root = copy_example(folder / "proj")
    speed_up(root, search=False)
    assetbook(root, "run", "--days", str(days), "--rows", str(ROWS), "--no-serve")
    return root, StateFolder.for_project(root)


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def print_times(root: Path, state: StateFolder, key: str) -> tuple[float, float]:
    """(1): seconds to the parameters printed, through Assetbook and by hand."""
    ours, printed = timed([str(BIN / "assetbook"), "notebook", ASSET, "--partition", key,
                           "--print"], root)
    hand, path = timed([sys.executable, "-c", HAND_PRINT, str(state.dagster_home),
                        str(state.artifacts), key], root)
    inputs = json.loads(printed)["partitions"][0]["inputs"][UPSTREAM]
    assert inputs == [path.strip()], (inputs, path)  # the same file, found both ways
    return ours, hand


def kernel_times(root: Path, state: StateFolder, key: str, logs: Path) -> tuple[float, float]:
    """(2): seconds from the server's start to a kernel holding the day, both ways."""
    port, token = free_port(), secrets.token_hex(24)
    ours = [str(BIN / "assetbook"), "notebook", ASSET, "--partition", key, "--no-browser",
            "--port", str(port)]
    hand = [sys.executable, "-m", "jupyterlab", str(root / NOTEBOOK), "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", "--no-browser",
            *(["--allow-root"] if os.geteuid() == 0 else [])]
    stored = state.artifacts / ASSET / f"{key}.parquet"
    return (
        to_loaded(ours, root, {}, logs / "assetbook.log", lambda log: _address(log.read_text()),
                  f"from assetbook import load\ndf = load({ASSET!r}, partition={key!r})"),
        to_loaded(hand, root, {"JUPYTER_TOKEN": token}, logs / "by-hand.log",
                  lambda _: (f"http://127.0.0.1:{port}", token),
                  f"import pandas as pd\ndf = pd.read_parquet({str(stored)!r})"))


def _address(output: str) -> tuple[str, str] | None:
    found = ADDRESS.search(output)
    return found and found.groups()


def to_loaded(command: list[str], root: Path, env: dict[str, str], log: Path,
              address: Callable[[Path], tuple[str, str] | None], code: str) -> float:
    """Seconds from starting the server to `code` run in a kernel it started, which must leave
    a frame of ROWS rows in `df`."""
    started = time.perf_counter()
    with server(command, root, env, log) as process:
        url, token = until(lambda: address(log), process, log)
        auth = {"Authorization": f"token {token}"}
        until(lambda: _answers(f"{url}/api/status", auth), process, log)
        kernel = httpx.post(f"{url}/api/kernels", json={"name": "python3"}, headers=auth,
                            timeout=60).raise_for_status().json()["id"]
        client = BlockingKernelClient(
            connection_file=str(Path(jupyter_runtime_dir()) / f"kernel-{kernel}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            reply = client.execute_interactive(code, user_expressions={"rows": "len(df)"},
                                               output_hook=lambda _: None, timeout=120)
        finally:
            client.stop_channels()
        elapsed = time.perf_counter() - started
    content = reply["content"]
    assert content["status"] == "ok", content
    assert content["user_expressions"]["rows"]["data"]["text/plain"] == str(ROWS), content
    return elapsed


@contextmanager
def server(command: list[str], cwd: Path, env: dict[str, str], log: Path
           ) -> Iterator[subprocess.Popen]:
    """`command` in a process group of its own; on leaving, whatever happened, its process
    groups and those of its kernels (jupyter_client gives each one its own) are stopped."""
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        groups = set()
        for pid in tree({process.pid}, processes()):
            with suppress(ProcessLookupError):
                groups.add(os.getpgid(pid))
        groups.discard(os.getpgrp())
        for stop in (signal.SIGTERM, signal.SIGKILL):
            for group in groups:
                with suppress(ProcessLookupError):
                    os.killpg(group, stop)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)


def until(check: Callable[[], T | None], process: subprocess.Popen, log: Path,
          timeout_s: float = 120) -> T:
    deadline = time.monotonic() + timeout_s
    while (found := check()) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(process.args)}: no answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return found


def _answers(url: str, headers: dict[str, str]) -> bool | None:
    with suppress(httpx.HTTPError):
        if httpx.get(url, headers=headers, timeout=2).status_code == 200:
            return True
    return None


def line(what: str, tries: list[tuple[float, float]]) -> str:
    ours, hand = (statistics.median(times) for times in zip(*tries, strict=True))
    return f"  {what:34s} {ours:6.2f} s {hand:8.2f} s {ours / hand:7.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3, help=f"days materialized, of {ROWS} rows "
                        "each (default: 3)")
    parser.add_argument("--partition", metavar="KEY", help="the day opened (default: the last)")
    parser.add_argument("--repeat", type=int, default=3, help="tries of each measurement; the "
                        "median is printed (default: 3)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers
    for name in [n for n in os.environ if n.startswith("ASSETBOOK_")
                 or n in ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "JUPYTER_TOKEN")]:
        del os.environ[name]  # the project's own state folder, as a user's shell has it
    with tempfile.TemporaryDirectory(prefix="bench-notebook-loop-") as scratch:
        folder = Path(scratch)
        os.environ["JUPYTER_RUNTIME_DIR"] = str(folder / "runtime")  # the kernels' connections
        root, state = materialized_project(folder, args.days)
        key = args.partition or max(p.stem for p in (state.artifacts / ASSET).glob("*.parquet"))
        printing = [print_times(root, state, key) for _ in range(args.repeat)]
        loading = [kernel_times(root, state, key, folder) for _ in range(args.repeat)]
    print(f"notebook {ASSET} --partition {key} ({args.days} days x {ROWS} rows), "
          f"median of {args.repeat}")
    print(f"  {'':34s} {'assetbook':>8s} {'by hand':>10s} {'ratio':>8s}")
    print(line("--print to the parameters", printing))
    print(line("Jupyter start to the day loaded", loading))


if __name__ == "__main__":
    main()
