"""Kernels started before they are needed, so that a notebook step does not wait for one.

A kernel's start and its first `import pandas` cost about 2 s, more than a day's work in most
notebook steps. Where a process knows a notebook follows (a run's first steps, any step with
a notebook below it in the same run, a day-by-day backfill), it starts one spare kernel in the
background, with the modules that notebook imports (and pandas, numpy, pyarrow) imported, and
the next notebook gets it. Nothing is started on speculation: a run with one notebook starts
one kernel, as before. Each kernel runs one notebook and is then shut down, so nothing a
notebook defines reaches the next: the warm-up imports modules and binds no name. A spare is
used only for the kernel and folder it was started for. Variables set in os.environ since its
start (importing Ray sets several) are set in the kernel before the notebook runs; if one that
Python reads at its own start changed (PYTHON*, except PYTHONBREAKPOINT, read at each
`breakpoint()`), the spare is dropped and a kernel is started for the notebook then, as
papermill would. A kernel gets os.environ as it was when its start was asked for, not as
another thread may have changed it by the time its process is launched.

Every kernel, spare or not, is started here and reached over Unix sockets in a private
folder (which a process killed before it could remove it leaves behind, for a later process's
first kernel to remove), not TCP ports: Jupyter picks a free port in the starting process and
the kernel binds it later, so a process starting at the same time can take it first (seen in
CI: "Address already in use", and the step failed).

A kernel has one client for its life, the warm-up's, handed on to its notebook connected and
known ready: jupyter_client's `wait_for_ready`, which nbclient calls on the client it gets,
waits 0.2 s for an IOPub message after every kernel_info reply (on a connected client too),
0.2 s of every notebook run.

The starter thread imports nothing: what a first kernel start imports (`KERNEL_START_IMPORTS`)
is imported by the thread that asks for the kernel, before it hands the start on; the notebook
runner makes its report's exporter in the step's thread for the same reason. Imports in
two threads at once can hang a process for good: a signal whose handler raises (Dagster's
SIGTERM, in a run worker) inside importlib's module-lock callback is swallowed there and leaves
Python's import lock held by the main thread; a thread importing then waits for that lock,
holding its module's lock, and the main thread waits for the module (seen in CI: a stopped
`dagster dev` left a run worker that never ended, its run STARTED for good).
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import contextlib
import fcntl
import functools
import importlib.util
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync
from traitlets import Type

from assetbook.runners.notebook_source import read_notebook

if TYPE_CHECKING:
    from assetbook.spec.loader import ProjectSpec

DEFAULT_KERNEL = "python3"
COMMON_MODULES = ("pandas", "numpy", "pyarrow.parquet")
# What jupyter_client imports on the first start of a Python kernel (its kernel spec folders)
KERNEL_START_IMPORTS = ("IPython.paths", "ipykernel.kernelspec")
# Imports modules and binds no name; a module that fails to import is the notebook's to report.
WARM_UP = """\
def _assetbook_warm_up(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_assetbook_warm_up({names!r})
del _assetbook_warm_up
"""
# PYTHON* variables the interpreter reads when used, not at its start: a kernel started
# without one takes it from SET_ENVIRONMENT (ray.init sets PYTHONBREAKPOINT to its debugger)
READ_LATER = frozenset({"PYTHONBREAKPOINT"})
# os.environ as the step's process has it now; binds no name
SET_ENVIRONMENT = ("__import__('os').environ.clear(); "
                   "__import__('os').environ.update({environment!r})")
START_TIMEOUT_S = 60
# A kernel's answers are awaited in slices of this length: see _execute
ANSWER_POLL_S = 0.5
# nbclient's own argument for the kernels it starts: no history file shared between kernels
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
FOLDER_PREFIX = "assetbook-kernel-"
OWNER_LOCK = "owner.lock"  # in each kernel's folder, locked by the process that keeps it


class _ReadyClient(AsyncKernelClient):
    """A client that, once it has seen its kernel answer, is ready for as long as its channels
    stay open: starting them again and waiting again are no-ops."""

    _ready = False

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        if not self.channels_running:
            super().start_channels(*args, **kwargs)

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        if not (self._ready and self.channels_running):
            await super().wait_for_ready(timeout=timeout)
            self._ready = True


class _PooledKernelManager(AsyncKernelManager):
    """A kernel whose every `client()` is the same `_ReadyClient`."""

    client_factory = Type(klass=_ReadyClient)
    _client: _ReadyClient | None = None
    folder: KernelFolder | None = None

    def client(self, **kwargs: Any) -> _ReadyClient:
        if self._client is None:
            self._client = super().client(**kwargs)
        return self._client

    def close_client(self) -> None:
        if self._client is not None:
            self._client.stop_channels()


@dataclass(frozen=True)
class _Place:
    """What a kernel inherits at its start and cannot change afterwards."""

    kernel_name: str
    cwd: str
    interpreter_environment: tuple[tuple[str, str], ...]  # the PYTHON* variables

    @classmethod
    def here(cls, kernel_name: str, cwd: Path) -> _Place:
        read_at_start = tuple(sorted((name, value) for name, value in os.environ.items()
                                     if name.startswith("PYTHON") and name not in READ_LATER))
        return cls(kernel_name, str(Path(cwd).resolve()), read_at_start)


@dataclass(frozen=True)
class _Spare:
    place: _Place
    environment: dict[str, str]  # os.environ when it was started
    modules: frozenset[str]  # imported by its warm-up
    starting: Future[_PooledKernelManager]
    again: bool = False  # once taken, a spare like it starts: a run like this one follows


@dataclass(frozen=True)
class KernelFolder:
    """A kernel's private folder (mode 0700: its connection file holds the kernel's key; and
    its sockets' paths must stay under 107 bytes, which Jupyter's runtime folder may not), with
    a lock that the process keeping it holds. A SIGKILL runs no cleanup, but the system drops
    the lock: whoever can take it may remove the folder. A lock, not a pid: it means the same
    to processes of another PID namespace sharing the temporary folder."""

    path: str
    lock: int  # the open descriptor of OWNER_LOCK, locked

    @classmethod
    def make(cls) -> KernelFolder:
        path = tempfile.mkdtemp(prefix=FOLDER_PREFIX)
        pending = os.path.join(path, f".{OWNER_LOCK}")
        lock = os.open(pending, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(pending, os.path.join(path, OWNER_LOCK))  # found by others only once held
        return cls(path, lock)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.lock)


class KernelPool:
    """At most one spare kernel, started in a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="assetbook-kernel")
        self._stopper = ThreadPoolExecutor(1, thread_name_prefix="assetbook-kernel-stop")
        self._spare: _Spare | None = None

    def prepare(self, kernel_name: str, cwd: Path, modules: Iterable[str] = (),
                again: bool = False) -> None:
        """Start a spare for notebooks about to run in `cwd`, with `modules` imported (and the
        common ones); where one is there, import in it those it lacks. `again`: another run
        with the same notebooks follows this one in this process (a day-by-day loop), so the
        spare of that run starts while this run's notebook runs."""
        place = _Place.here(kernel_name, cwd)
        names = list(dict.fromkeys([*COMMON_MODULES, *modules]))
        with self._lock:
            spare = self._spare
            if spare is not None and spare.place == place:
                self._spare = replace(spare, again=again)
                if missing := [name for name in names if name not in spare.modules]:
                    self._spare = replace(self._spare, modules=spare.modules | set(missing),
                                          starting=self._starter.submit(
                                              _warmed, spare.starting, missing))
                return
            environment = dict(os.environ)
            self._spare = _Spare(place, environment, frozenset(names),
                                 self._start(place, names, environment), again)
        if spare is not None:
            self._stopper.submit(_discard, spare.starting)

    @contextlib.contextmanager
    def kernel(self, kernel_name: str, cwd: Path, following: Sequence[str] | None
               ) -> Iterator[_PooledKernelManager]:
        """A started kernel for one notebook (the spare, or one started now), shut down
        afterwards.
        Where another notebook follows in this process (`following`: the modules it imports,
        or the spare's own where the next run is like this one) a new spare starts meanwhile;
        if this notebook fails, the spare goes too (a failing step leaves no kernel)."""
        place = _Place.here(kernel_name, cwd)
        with self._lock:
            spare, self._spare = self._spare, None
        manager = self._take(spare, place) if spare else None
        starting = None if manager else self._start(place, [], dict(os.environ))
        if following is None and spare is not None and spare.again:
            following = sorted(spare.modules)
        if following is not None:
            self.prepare(kernel_name, cwd, following)
        try:
            if starting is not None:  # no spare: one now, before the next spare (one thread)
                manager = starting.result(timeout=2 * START_TIMEOUT_S)
            yield manager
        except BaseException:
            if manager is None and starting is not None:
                self._stopper.submit(_discard, starting)
            self.stop_all()
            raise
        finally:
            if manager is not None:  # in the background: the step's result does not wait
                self._stopper.submit(_shutdown, manager)

    def _start(self, place: _Place, modules: list[str], environment: dict[str, str]
               ) -> Future[_PooledKernelManager]:
        """A kernel starting on the starter's thread, with `environment`, which imports
        nothing: what a start imports, this thread imports first (the module docstring says
        why)."""
        for name in KERNEL_START_IMPORTS:
            with contextlib.suppress(ImportError):  # not installed: the start says so
                importlib.import_module(name)
        return self._starter.submit(_start, place, modules, environment)

    def _take(self, spare: _Spare, place: _Place) -> _PooledKernelManager | None:
        """The spare, with os.environ as it is now; None where it cannot serve `place`."""
        if spare.place != place:
            self._stopper.submit(_discard, spare.starting)
            return None
        try:
            manager = spare.starting.result(timeout=START_TIMEOUT_S)
            if spare.environment != os.environ:
                run_sync(_execute)(manager, SET_ENVIRONMENT.format(environment=dict(os.environ)))
        except Exception:  # a spare that failed to start: one is started now instead
            self._stopper.submit(_discard, spare.starting)
            return None
        return manager

    def stop_all(self) -> None:
        """Return once no kernel of the pool runs: the spare (waited for if it is still
        starting) and the used ones being shut down."""
        with self._lock:
            spare, self._spare = self._spare, None
        # RuntimeError: the interpreter is exiting, and the stopper has finished its work
        with contextlib.suppress(RuntimeError):
            if spare is not None:
                self._stopper.submit(_discard, spare.starting)
            self._stopper.submit(lambda: None).result()

    def close(self) -> None:
        """At exit. The executors take no new work by then (Python stops them before running
        `atexit`), so the spare is stopped here, once what they hold is done."""
        with self._lock:
            spare, self._spare = self._spare, None
        self._starter.shutdown()
        self._stopper.shutdown()
        if spare is not None:
            _discard(spare.starting)


def step_imports(project: ProjectSpec, assets: Iterable[str], step: str | None = None
                 ) -> list[str] | None:
    """What a kernel for the notebooks that materializing `assets` runs should import ahead;
    None where none runs. A model's class (torch, Lightning: seconds, and memory) only where
    `step` wrote that model: imported while the model trains, not during a search above it."""
    assets = list(assets)
    notebooks = project.notebooks(assets)
    models = [asset.name for asset in project.written_by(step)] if step else []
    return notebook_imports(notebooks, project.root, project.notebook_modules(assets, models)) \
        if notebooks else None


def notebook_imports(notebooks: Iterable[Path], root: Path, loaded: Iterable[str] = ()
                     ) -> list[str]:
    """The installed modules the notebooks import at the top of their cells, and those that
    the modules their steps load besides (`loaded`, such as the model's class) import,
    followed through the project's own modules. Those are left out themselves: one edited
    while a spare waits must be imported afresh."""
    names = dict.fromkeys(name for notebook in notebooks
                          for name in _imports(notebook, notebook.stat().st_mtime_ns))
    names.update(dict.fromkeys(_through_project(loaded, root)))
    return [name for name in names if _installed(name.partition(".")[0], root)]


def _through_project(modules: Iterable[str], root: Path) -> list[str]:
    """`modules`, and what each of the project's own among them imports, recursively."""
    found: dict[str, None] = {}
    waiting = list(modules)
    while waiting:
        name = waiting.pop()
        if name in found:
            continue
        found[name] = None
        base = root.joinpath(*name.split("."))
        for source in (base.with_suffix(".py"), base / "__init__.py"):
            if source.is_file():
                waiting.extend(_module_imports(source, source.stat().st_mtime_ns))
    return list(found)


@functools.lru_cache(maxsize=256)
def _imports(notebook: Path, modified_ns: int) -> tuple[str, ...]:
    """Every module one version of a notebook imports (read once per version: steps ask for
    the notebooks below them on each run)."""
    names: dict[str, None] = {}
    for cell in read_notebook(notebook).cells:
        if cell.cell_type == "code":
            names.update(dict.fromkeys(_source_imports(cell.source)))
    return tuple(names)


@functools.lru_cache(maxsize=256)
def _module_imports(path: Path, modified_ns: int) -> tuple[str, ...]:
    """Every module one version of a project's module imports."""
    return _source_imports(path.read_text())


def _source_imports(source: str) -> tuple[str, ...]:
    """The absolute imports of Python source (`from a import b`: b may be a module too)."""
    try:
        statements = ast.parse(source).body
    except SyntaxError:  # IPython magics, or a module being edited: its owner's concern
        return ()
    names: dict[str, None] = {}
    for statement in statements:
        if isinstance(statement, ast.Import):
            names.update(dict.fromkeys(alias.name for alias in statement.names))
        elif isinstance(statement, ast.ImportFrom) and statement.module \
                and not statement.level:
            names.update(dict.fromkeys([statement.module, *(
                f"{statement.module}.{alias.name}" for alias in statement.names)]))
    return tuple(names)


def _installed(package: str, root: Path) -> bool:
    """Importable, and not one of the project's own (a package or module in its root)."""
    if (root / package).is_dir() or (root / f"{package}.py").is_file():
        return False
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _start(place: _Place, modules: list[str], environment: dict[str, str]
           ) -> _PooledKernelManager:
    return asyncio.run(_started(place, modules, environment))


async def _started(place: _Place, modules: list[str], environment: dict[str, str]
                   ) -> _PooledKernelManager:
    _remove_abandoned_folders()
    folder = KernelFolder.make()
    connection_file = os.path.join(folder.path, f"{uuid.uuid4()}.json")
    manager = _PooledKernelManager(kernel_name=place.kernel_name, transport="ipc",
                                   connection_file=connection_file)
    manager.folder = folder
    try:
        await manager.start_kernel(cwd=place.cwd, extra_arguments=KERNEL_ARGUMENTS,
                                   env=environment)
        try:
            await _execute(manager, WARM_UP.format(names=modules))
        except BaseException:
            manager.close_client()
            await manager.shutdown_kernel(now=True)
            raise
    except BaseException:
        folder.remove()
        raise
    return manager


@functools.cache  # once a process: what a process killed later leaves, the next one removes
def _remove_abandoned_folders() -> None:
    """The kernel folders of processes killed before they could remove them, which nobody holds
    any more. Their kernels ended with them (ipykernel polls its parent)."""
    for lock in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*/{OWNER_LOCK}"):
        with contextlib.suppress(OSError):  # held (its process runs), gone, or not ours
            descriptor = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(lock.parent, ignore_errors=True)
            finally:
                os.close(descriptor)


def _warmed(starting: Future[_PooledKernelManager], modules: list[str]
            ) -> _PooledKernelManager:
    """The started spare, with `modules` imported too (on the starter's one thread, after
    the start: `starting` is done), in an event loop of its own, as the start: see _execute."""
    manager = starting.result()
    try:
        asyncio.run(_execute(manager, WARM_UP.format(names=modules)))
    except BaseException:
        _shutdown(manager)
        raise
    return manager


async def _execute(manager: _PooledKernelManager, code: str,
                   timeout: float | None = None) -> None:
    """Run `code` in the kernel, silently: no output, no history, no execution count; within
    `timeout` seconds (START_TIMEOUT_S by default) for each of its first answer and its run.

    Its reply, and the idle status after it, are read in short slices, each ending in a look
    at the socket. pyzmq watches an asyncio socket's descriptor from the event loop it is used
    in, and keeps watching it from the first loop when the socket moves on to another: a later
    socket given that descriptor's number is never watched there, and its messages wait out
    the poll's timeout (a 2-second warm-up took 60 s, bench_loop.py). Callers on a thread's
    lasting loop (`_take`, through `run_sync`) can meet such a socket; the slices bound the
    wait to ANSWER_POLL_S."""
    timeout = START_TIMEOUT_S if timeout is None else timeout
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=timeout)
    request = client.execute(code, silent=True, store_history=False)
    deadline = time.monotonic() + timeout
    try:
        reply = await _answer(client.get_shell_msg, request, deadline)
        await _answer(client.get_iopub_msg, request, deadline, _is_idle)  # as a client leaves it
    except TimeoutError:
        raise TimeoutError(f"the kernel did not answer in {timeout:g} s") from None
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"the kernel could not run {code!r}: {reply['content']}")


async def _answer(receive: Callable[..., Awaitable[dict[str, Any]]], request: str,
                  deadline: float, last: Callable[[dict[str, Any]], bool] | None = None
                  ) -> dict[str, Any]:
    """The first message of a channel (`receive`) that answers `request`, or the first that
    is also `last`."""
    while True:
        try:
            message = await receive(timeout=ANSWER_POLL_S)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise TimeoutError from None
            continue
        if message["parent_header"].get("msg_id") == request and (last is None
                                                                   or last(message)):
            return message


def _is_idle(message: dict[str, Any]) -> bool:
    return message["msg_type"] == "status" and message["content"]["execution_state"] == "idle"


def _discard(starting: Future[_PooledKernelManager]) -> None:
    """Shut down the kernel `starting` gives, once its start has ended. Not given up on while
    it starts: on a loaded machine a start can outlast a wait for it, and a kernel started
    after the wait would run on, unknown to the pool (seen in CI). A start bounds its own
    waits: START_TIMEOUT_S for the kernel's first answer, again for its warm-up."""
    try:
        manager = starting.result()
    except Exception:  # it failed to start, and its start shut it down
        return
    _shutdown(manager)


def _shutdown(manager: _PooledKernelManager) -> None:
    try:
        manager.close_client()
        if run_sync(manager.is_alive)():
            run_sync(manager.shutdown_kernel)(now=True)
    finally:
        run_sync(manager.cleanup_resources)()
        folder, manager.folder = manager.folder, None  # its lock's descriptor is closed once
        if folder is not None:
            folder.remove()


KERNELS = KernelPool()
atexit.register(KERNELS.close)
