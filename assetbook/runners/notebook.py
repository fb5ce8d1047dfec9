"""Execute a notebook with papermill, keep the executed copy and its HTML render (in the state
folder, or in the profile's store).

Parameters are injected after the cell tagged `parameters` as Python literals (papermill's
way), so they are data, never code. A failing cell raises `NotebookError` with the cell's
source and traceback; a run past its timeout raises `StepTimeoutError` naming the running
cell, after its kernel is shut down. The executed notebook is kept either way, for
the UI and for debugging. A text notebook (percent .py, MyST .md) runs as its .ipynb form.
Kernels come from `kernels.KERNELS`: started ahead, one per notebook run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetbook.atomic import StorePath, atomic_path
from assetbook.errors import NotebookError, StepTimeoutError, plain_text
from assetbook.runners.kernels import DEFAULT_KERNEL, KERNELS
from assetbook.runners.notebook_source import as_ipynb

if TYPE_CHECKING:  # imported where a notebook runs: loading the definitions does not need them
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode


@dataclass(frozen=True)
class NotebookResult:
    executed: StorePath
    html: StorePath
    seconds: float


@dataclass
class _Budget:
    """nbclient's `timeout` is per cell: its `timeout_func`, asked as each cell starts, gets
    what is left of the whole run's. Remembers that cell, the one running when time is up."""

    seconds: float  # math.inf: no limit
    started: float = field(default_factory=time.monotonic)
    cell: NotebookNode | None = None

    def __call__(self, cell: NotebookNode) -> int | None:
        self.cell = cell
        left = self.started + self.seconds - time.monotonic()
        return None if math.isinf(left) else max(1, math.ceil(left))  # 0 would be no limit

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.started + self.seconds


@dataclass(frozen=True)
class NotebookRunner:
    kernel_name: str = DEFAULT_KERNEL
    timeout_s: float | None = None  # the whole run, kernel start included

    def run(
        self,
        notebook: Path,
        parameters: dict[str, Any],
        executed: StorePath,
        cwd: Path,
        what: str,
        following: Sequence[str] | None = None,
    ) -> NotebookResult:
        """Run `notebook` into `executed` (.ipynb) and `executed.with_suffix('.html')`.

        `what` names the step in error messages, e.g. "asset 'features' (2024-01-01)";
        `following`: another notebook follows in this process, importing these modules; its
        kernel starts meanwhile.
        """
        import papermill
        from nbclient.exceptions import CellTimeoutError

        budget = _Budget(math.inf if self.timeout_s is None else self.timeout_s)
        html = executed.with_suffix(".html")
        failure: papermill.PapermillExecutionError | CellTimeoutError | None = None
        with (atomic_path(executed) as tmp, atomic_path(html) as tmp_html,
              as_ipynb(notebook) as source,
              KERNELS.kernel(self.kernel_name, cwd, following) as kernel):
            try:
                papermill.execute_notebook(
                    str(source), str(tmp), parameters=as_data(parameters),
                    kernel_name=self.kernel_name,
                    language="python",
                    cwd=str(cwd), progress_bar=False, log_output=False,
                    timeout_func=budget,  # papermill hands it on to nbclient
                    km=kernel,  # started by the pool (over Unix sockets), not by nbclient
                )
            except papermill.PapermillExecutionError as exc:
                failure = exc  # keep the executed notebook before raising
            except CellTimeoutError as exc:
                if not budget.spent:  # nbclient's own wait for outputs, not our timeout
                    raise
                failure = exc
            _render_html(tmp, tmp_html)
        if failure is not None:  # the step fails: no kernel outlives it, not even a spare
            KERNELS.stop_all()
        if isinstance(failure, CellTimeoutError):
            raise StepTimeoutError(what, budget.seconds, _timeout_detail(
                budget.cell, notebook, executed)) from failure
        if failure is not None:
            raise NotebookError(_failure_message(failure, notebook, executed, what)) from failure
        return NotebookResult(executed, html, time.monotonic() - budget.started)


def prepare_notebooks(kernel_name: str, cwd: Path, modules: Iterable[str], again: bool = False
                      ) -> None:
    """A notebook is about to run in this process: its kernel starts (`KernelPool.prepare`),
    and meanwhile papermill and the HTML exporter load here, the first time in the process
    (~1 s of imports and templates, which a landing's run, a process of its own, otherwise
    spends inside its notebook's step)."""
    KERNELS.prepare(kernel_name, cwd, modules, again=again)
    _warm_up_exporter()


@cache
def _exporter() -> HTMLExporter:
    """One exporter a process (a new one loads its templates again, 0.2-0.6 s), made in the
    calling thread, never in a thread of ours: two threads importing at once can hang a
    process (kernels.py says how; seen in CI with this made in a thread)."""
    import papermill  # noqa: F401  (the notebook's run imports it next)
    from nbconvert import HTMLExporter

    return HTMLExporter()


@cache
def _warm_up_exporter() -> None:
    """Where a notebook is about to run: a first render, of a stub, imports the highlighting,
    Markdown and sanitizing while the kernel starts, not in the notebook's step."""
    import nbformat

    v4 = nbformat.v4
    _exporter().from_notebook_node(v4.new_notebook(cells=[
        v4.new_markdown_cell("# report"),
        v4.new_code_cell("frame", execution_count=1, outputs=[v4.new_output(
            "execute_result", {"text/html": "<table></table>", "text/plain": "frame"},
            execution_count=1)])]))


def _render_html(executed: Path, html: Path) -> None:
    import nbformat

    body, _ = _exporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html.write_text(body, encoding="utf-8")


def _failure_message(exc: Any, notebook: Path, executed: StorePath, what: str) -> str:
    trace = plain_text("\n".join(exc.traceback or []))
    return (
        f"{what}: notebook {notebook.name} failed in cell {exc.exec_count} "
        f"with {exc.ename}: {exc.evalue}\n"
        f"--- cell source ---\n{exc.source}\n--- traceback ---\n{trace}\n"
        f"Executed notebook kept at {executed} (HTML: {executed.with_suffix('.html')})"
    )


def _timeout_detail(cell: NotebookNode | None, notebook: Path, executed: StorePath) -> str:
    assert cell is not None, "nbclient asks the budget as each cell starts, before its timeout"
    return (f"notebook {notebook.name} was running cell {cell.execution_count}; its kernel is "
            f"shut down\n--- cell source ---\n{cell.source}\n"
            f"Executed notebook kept at {executed} (HTML: {executed.with_suffix('.html')})")


def as_data(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters reduced to JSON values: papermill writes a value it cannot translate (bytes,
    a date) as its str() between quotes, unescaped, which a crafted value could break out of."""
    return json.loads(json.dumps(parameters, default=str))
