"""Kernels started ahead (runners/kernels.py): a notebook gets one with the common imports
done, never one that another notebook used, always with the environment of the step that
takes it, and a failing notebook leaves no kernel behind, spare included. In a run, a notebook
with another notebook below it has that one's kernel started meanwhile, and so does a run that
another like it follows (a day-by-day loop); a run of one notebook starts one. The warm-up's
client goes on to the notebook, connected and known ready. A kernel's channels are Unix
sockets, not TCP ports, and a spare left at exit is stopped, its sockets' folder removed; a
killed process's folders are removed by a later one. Papermill and the report's exporter load
while the kernel starts, in the thread that asked: a process whose import lock is held for good
still runs its notebooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.utils import run_sync

from assetbook.errors import NotebookError
from assetbook.runners import kernels
from assetbook.runners.kernels import KERNELS, KernelFolder, notebook_imports
from assetbook.runners.notebook import NotebookRunner
from assetbook.spec.loader import load_project
from tests.conftest import REPO
from tests.processes import kernels_of_this_process, still_running

PROBE = """\
# %% tags=["parameters"]
run = 0

# %%
import json, os, sys
print(json.dumps({"names": sorted(k for k in globals() if not k.startswith("_")),
                  "warm": "pyarrow.parquet" in sys.modules, "pid": os.getpid(),
                  "colorsys": "colorsys" in sys.modules,
                  "mark": os.environ.get("ASSETBOOK_TEST_MARK"), "cwd": os.getcwd(),
                  "breakpoint": os.environ.get("PYTHONBREAKPOINT")}))
left_behind = run
"""


def probe(folder: Path, run: int, following: Sequence[str] | None = ()) -> dict:
    """Run the probe; `following`: what a notebook after it in the same run imports (None:
    no notebook follows in its run)."""
    notebook = folder / "probe.py"
    notebook.write_text(PROBE)
    executed = folder / f"run{run}.ipynb"
    NotebookRunner().run(notebook, {"run": run}, executed, folder, f"probe {run}",
                         following=following)
    (output,) = json.loads(executed.read_text())["cells"][-1]["outputs"]
    return json.loads("".join(output["text"]))



def test_each_notebook_gets_a_kernel_of_its_own_started_ahead_with_the_imports_done(
        tmp_path: Path) -> None:
    runs = [probe(tmp_path, run) for run in range(3)]

    assert [r["warm"] for r in runs[1:]] == [True, True]  # the spares, warmed up
    assert len({r["pid"] for r in runs}) == 3  # one kernel per notebook
    assert all(r["cwd"] == str(tmp_path.resolve()) for r in runs)
    for r in runs:  # nothing left by the warm-up or by the notebook before
        assert "left_behind" not in r["names"] and "pandas" not in r["names"]
        assert r["names"] == runs[0]["names"]
    used = [p for p in kernels_of_this_process() if p.pid in {r["pid"] for r in runs}]
    _, alive = psutil.wait_procs(used, timeout=30)  # shut down after use, in the background
    assert not alive
    assert len(kernels_of_this_process()) == 1  # the spare for the next notebook


def the_spare(used: dict) -> psutil.Process:
    """The kernel started ahead after the `used` one, in its folder: the used one may still
    be shutting down, in the background, and so may a spare an earlier test left for another
    folder; the spare's process may still be starting, in its thread."""
    deadline = time.monotonic() + 30
    while not (others := [p for p in kernels_of_this_process() if p.pid != used["pid"]
                          and _cwd(p) == used["cwd"]]) and time.monotonic() < deadline:
        time.sleep(0.1)
    (spare,) = others
    return spare


def _cwd(process: psutil.Process) -> str | None:
    try:
        return process.cwd()
    except psutil.Error:  # it exited meanwhile
        return None


def test_a_spare_sees_the_environment_of_the_notebook_that_takes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spare = the_spare(probe(tmp_path, 0))  # started without the variable
    monkeypatch.setenv("ASSETBOOK_TEST_MARK", "set after the spare started")

    taken = probe(tmp_path, 1)

    assert (taken["pid"], taken["mark"]) == (spare.pid, "set after the spare started")


def test_a_kernel_has_the_environment_its_start_was_asked_with(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable another thread sets while the spare's process is being launched (ray.init
    sets several) and removes before the notebook takes it does not reach that notebook."""
    KERNELS.stop_all()
    KERNELS.prepare("python3", tmp_path)
    monkeypatch.setenv("ASSETBOOK_TEST_MARK", "set while the spare starts")
    spare = the_spare({"pid": None, "cwd": str(tmp_path.resolve())})
    monkeypatch.delenv("ASSETBOOK_TEST_MARK")

    taken = probe(tmp_path, 0)

    assert (taken["pid"], taken["mark"]) == (spare.pid, None)


def test_a_spare_serves_a_notebook_after_ray_set_its_debugger_hook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PYTHONBREAKPOINT is read at each `breakpoint()`, not at the interpreter's start: the
    spare takes it as any other variable set since it started."""
    spare = the_spare(probe(tmp_path, 0))
    monkeypatch.setenv("PYTHONBREAKPOINT", "ray.util.rpdb._driver_set_trace")

    taken = probe(tmp_path, 1)

    assert (taken["pid"], taken["breakpoint"]) == (spare.pid, "ray.util.rpdb._driver_set_trace")


def test_a_waiting_spare_imports_what_a_later_step_asks_for(tmp_path: Path) -> None:
    """The training step asks for the model's imports after the search above it started the
    evaluation's spare: the same kernel imports them, none is started anew."""
    spare = the_spare(first := probe(tmp_path, 0))
    assert not first["colorsys"]

    KERNELS.prepare("python3", tmp_path, ["colorsys"])
    taken = probe(tmp_path, 1)

    assert (taken["pid"], taken["colorsys"]) == (spare.pid, True)
    assert "colorsys" not in taken["names"]  # imported, and no name bound


def test_a_day_by_day_loop_has_the_next_days_kernel_started_during_the_day_before(
        tmp_path: Path) -> None:
    """`assetbook run` falling back to one run a day: each run says that another like it
    follows (`again`), but no notebook follows within the run itself; the last says none."""
    KERNELS.stop_all()
    KERNELS.prepare("python3", tmp_path, ["colorsys"], again=True)
    spare = the_spare(probe(tmp_path, 0, following=None))

    KERNELS.prepare("python3", tmp_path, ["colorsys"])  # the last day
    last = probe(tmp_path, 1, following=None)

    assert (last["pid"], last["colorsys"]) == (spare.pid, True)
    _, alive = psutil.wait_procs(kernels_of_this_process(), timeout=30)
    assert not alive  # and after the last day, no spare waits


def test_a_kernel_keeps_the_client_of_its_warm_up_connected_and_ready(tmp_path: Path) -> None:
    """nbclient asks the kernel's manager for a client and waits for it to be ready, which
    costs jupyter_client 0.2 s each time; the warm-up's client is handed over, and asks
    nothing again."""
    KERNELS.prepare("python3", tmp_path)
    with KERNELS.kernel("python3", tmp_path, None) as manager:
        client = manager.client()
        assert client is manager.client() and client.channels_running
        client.kernel_info = lambda: pytest.fail("the ready client asked the kernel again")
        run_sync(client.wait_for_ready)(timeout=10)
    KERNELS.stop_all()  # waits for the shutdown of used kernels, in the background
    assert not client.channels_running  # closed with its kernel


def test_a_spare_started_under_another_python_setting_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spare = the_spare(probe(tmp_path, 0))
    monkeypatch.setenv("PYTHONHASHSEED", "7")  # read by the interpreter at its start only

    assert probe(tmp_path, 1)["pid"] != spare.pid


def test_a_kernel_that_does_not_answer_its_warm_up_times_out(tmp_path: Path) -> None:
    """The warm-up's answer is awaited in short slices (kernels.py `_execute`), within its
    deadline all the same: a warm-up that hangs fails, and says so."""
    KERNELS.prepare("python3", tmp_path)
    with KERNELS.kernel("python3", tmp_path, None) as manager:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="did not answer in 2 s"):
            run_sync(kernels._execute)(manager, "import time; time.sleep(60)", timeout=2)
        assert time.monotonic() - started < 10


def test_a_kernel_given_up_on_while_it_starts_is_shut_down_once_started(
        tmp_path: Path) -> None:
    """A spare discarded while it still starts (its warm-up is slow here; on a loaded machine
    any start can be) is shut down when its start ends, not left running unknown to the
    pool."""
    (tmp_path / "slow_import.py").write_text("import time\n\ntime.sleep(4)\n")
    pool = kernels.KernelPool()
    try:
        pool.prepare("python3", tmp_path, ["slow_import"])
        pool.stop_all()  # while the spare still imports

        assert kernels_of_this_process() == []
    finally:
        pool.close()


def test_a_failing_notebook_leaves_no_kernel_and_no_spare(tmp_path: Path) -> None:
    probe(tmp_path, 0)
    failing = tmp_path / "failing.py"
    failing.write_text('# %% tags=["parameters"]\nrun = 0\n\n# %%\nraise ValueError("bad day")\n')

    with pytest.raises(NotebookError, match="bad day"):
        NotebookRunner().run(failing, {}, tmp_path / "failed.ipynb", tmp_path, "failing")

    assert kernels_of_this_process() == []
    KERNELS.prepare("python3", tmp_path)  # and the pool starts spares again afterwards
    assert probe(tmp_path, 1)["warm"]


def test_kernel_channels_are_unix_sockets_in_a_private_folder_not_tcp_ports(
        tmp_path: Path) -> None:
    """The channels' ports were picked by the starting process and bound later by the
    kernel, so another process could take one first. (The one TCP port a kernel listens on
    is picked by the system as the kernel binds it, which cannot clash.)"""
    spare = the_spare(probe(tmp_path, 0))
    connection = Path(connection_file(spare))
    channels = json.loads(connection.read_text())

    assert channels["transport"] == "ipc"
    assert connection.parent.stat().st_mode & 0o777 == 0o700  # the file holds the key
    assert len(wait_for_sockets(spare)) == 5  # shell, iopub, stdin, control, heartbeat


def wait_for_sockets(kernel: psutil.Process, timeout_s: float = 30) -> list[Path]:
    """The kernel's sockets, once it has bound all five (a spare may still be starting)."""
    folder = Path(connection_file(kernel)).parent
    deadline = time.monotonic() + timeout_s
    while len(sockets := [path for path in folder.iterdir() if path.is_socket()]) < 5 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    return sockets


def connection_file(kernel: psutil.Process) -> str:
    arguments = kernel.cmdline()
    return arguments[arguments.index("-f") + 1]


LEAVES_A_SPARE = """
import json, sys
from pathlib import Path
from tests.processes import identities
from tests.runners.test_kernels import connection_file, probe, the_spare
spare = the_spare(probe(Path(sys.argv[1]), 0))
print(json.dumps([list(identities([spare.pid])), connection_file(spare)]))
"""


def test_a_spare_left_when_the_process_exits_is_stopped_and_its_folder_removed(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", LEAVES_A_SPARE, str(tmp_path)], check=True,
                          capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    spare, connection = json.loads(done.stdout.splitlines()[-1])

    assert spare and not still_running(map(tuple, spare))
    assert not Path(connection).parent.exists()


HOLDS_A_SPARE = """
import sys, time
from pathlib import Path
from tests.runners.test_kernels import probe, the_spare, wait_for_sockets
wait_for_sockets(the_spare(probe(Path(sys.argv[1]), 0)))
print("ready", flush=True)
time.sleep(600)
"""


def test_the_folders_a_killed_process_left_are_removed_by_a_later_ones_first_kernel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGKILL runs no cleanup: the killed process's kernel folders (connection files with
    their keys) stay until another process starts a kernel; a folder whose process keeps it
    (holds its lock) is left alone, and so is one being made (no lock yet)."""
    # not the machine's (other test workers start kernels there), and short: a socket's path
    # has at most 107 bytes
    private = Path(tempfile.mkdtemp())
    environ = {**os.environ, "TMPDIR": str(private)}
    killed = subprocess.Popen([sys.executable, "-c", HOLDS_A_SPARE, str(tmp_path)], cwd=REPO,
                              env=environ, stdout=subprocess.PIPE, text=True)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    kept = KernelFolder.make()  # as this process's own kernel would
    made = private / "assetbook-kernel-being-made"
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "ready"
        killed.kill()
        killed.wait()
        left = {folder.name for folder in private.glob("assetbook-kernel-*")} - {
            Path(kept.path).name, made.name}
        made.mkdir()

        assert left
        subprocess.run([sys.executable, "-c", LEAVES_A_SPARE, str(tmp_path)], cwd=REPO,
                       env=environ, check=True, capture_output=True, timeout=120)

        assert not left & {folder.name for folder in private.iterdir()}
        assert Path(kept.path).is_dir() and made.is_dir()
    finally:
        killed.kill()
        kept.remove()
        shutil.rmtree(private)


PREPARES = """
import sys
from pathlib import Path
from assetbook.runners.kernels import KERNELS
from assetbook.runners.notebook import prepare_notebooks
prepare_notebooks("python3", Path(sys.argv[1]), [])
print(sorted(name for name in ("papermill", "nbconvert.exporters.html", "IPython.paths")
             if name in sys.modules and not sys.modules[name].__spec__._initializing))
KERNELS.stop_all()
"""


def test_a_notebook_about_to_run_has_papermill_and_its_report_exporter_loaded_meanwhile(
        tmp_path: Path) -> None:
    """Where a process knows a notebook follows, papermill and the HTML exporter load while
    its kernel starts (~1 s the first time in a process, a landing's run always), by the
    thread that asked, as does what the kernel's start imports: no notebook runs here,
    nothing else imports them."""
    done = subprocess.run([sys.executable, "-c", PREPARES, str(tmp_path)], check=True,
                          capture_output=True, text=True, timeout=120,
                          cwd=REPO)

    assert done.stdout.splitlines()[-1] == \
        "['IPython.paths', 'nbconvert.exporters.html', 'papermill']"


IMPORT_LOCK_LEFT_HELD = """
import _imp, sys
from pathlib import Path
from assetbook.runners.notebook import NotebookRunner, prepare_notebooks
folder = Path(sys.argv[1])
(folder / "probe.py").write_text(sys.argv[2])
prepare_notebooks("python3", folder, [])
_imp.acquire_lock()  # never released: as a signal's exception in importlib's lock callback
NotebookRunner().run(folder / "probe.py", {"run": 1}, folder / "run.ipynb", folder, "probe")
print("ran")
"""


def test_a_notebook_runs_in_a_process_whose_import_lock_a_signal_left_held(
        tmp_path: Path) -> None:
    """Dagster stops a run worker by raising from its SIGTERM handler. Raised inside
    importlib's module-lock callback, the exception is swallowed and Python's import lock
    stays held by the main thread: any other thread that imports waits for good (a stopped
    `dagster dev` left such a worker, its run STARTED for good). So the notebook's step
    imports nothing in a thread: its kernel starts, its notebook runs and its report renders,
    and the process ends."""
    done = subprocess.run([sys.executable, "-c", IMPORT_LOCK_LEFT_HELD, str(tmp_path), PROBE],
                          capture_output=True, text=True, timeout=120, cwd=REPO)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "ran"
    assert "left_behind" in (tmp_path / "run.html").read_text()


def test_a_kernel_that_cannot_start_is_named_and_leaves_no_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = tmp_path / "tmp"  # not the machine's: other test workers start kernels there
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    notebook = tmp_path / "probe.py"
    notebook.write_text(PROBE)

    with pytest.raises(NoSuchKernel, match="no-such-kernel"):
        NotebookRunner(kernel_name="no-such-kernel").run(
            notebook, {}, tmp_path / "run.ipynb", tmp_path, "probe")

    assert not list(private.glob("assetbook-kernel-*"))


def test_a_kernel_ahead_imports_what_the_steps_project_modules_import(tmp_path: Path) -> None:
    """A notebook step that loads a model imports its class, and the class's imports (torch,
    Lightning: seconds) can be done ahead; the project's own modules are not, since one edited
    while the spare waits must be imported afresh."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "__init__.py").write_text("")
    (tmp_path / "mine" / "net.py").write_text(
        "import sqlite3\nfrom mine.helpers import scale\nfrom . import helpers\n")
    (tmp_path / "mine" / "helpers.py").write_text("import decimal\nscale = 2\n")
    notebook = tmp_path / "report.py"
    notebook.write_text("# %%\nimport json\n")

    names = notebook_imports([notebook], tmp_path, loaded=["mine.net"])

    assert {"json", "sqlite3", "decimal"} <= set(names)
    assert not [name for name in names if name.startswith("mine")]


def test_an_evaluation_is_warmed_with_its_model_class_by_the_step_that_trains_it() -> None:
    """Where the model is trained, not where a search above it starts: the spare then holds
    torch and Lightning while the search's trials do (memory at its peak)."""
    project = load_project(REPO)
    kinds = {n: a.spec.kind for n, a in project.assets.items()}
    evaluation = [n for n, kind in kinds.items() if kind == "evaluate"]
    trained = [n for n, kind in kinds.items() if kind == "train"]
    searched = [n for n, kind in kinds.items() if kind == "tune"]

    assert evaluation and trained and searched
    assert set(project.notebook_modules(evaluation, trained)) == {
        project.assets[n].spec.model_module for n in trained}
    assert project.notebook_modules(evaluation, searched) == []
    assert project.notebook_modules(evaluation) == []
    assert project.notebook_modules(trained, trained) == []  # no notebook
    read_by_features = list(project.assets["features"].spec.inputs)  # data, not models
    assert project.notebook_modules(["features"], read_by_features) == ["project.features"]
