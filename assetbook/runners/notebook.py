"""Execute a notebook with papermill, keep the executed copy and its HTML render.

Parameters are injected after the cell tagged `parameters` as Python literals (papermill's
way), so they are data, never code. A failing cell raises `NotebookError` with the cell's
source and traceback; the executed notebook is kept either way, for the UI and for debugging.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbconvert import HTMLExporter

from assetbook.atomic import atomic_path
from assetbook.errors import NotebookError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class NotebookResult:
    executed: Path
    html: Path
    seconds: float


@dataclass(frozen=True)
class NotebookRunner:
    kernel_name: str = "python3"
    timeout_s: int | None = None

    def run(
        self,
        notebook: Path,
        parameters: dict[str, Any],
        executed: Path,
        cwd: Path,
        what: str,
    ) -> NotebookResult:
        """Run `notebook` into `executed` (.ipynb) and `executed.with_suffix('.html')`.

        `what` names the step in error messages, e.g. "asset 'features' (2024-01-01)".
        """
        started = time.perf_counter()
        html = executed.with_suffix(".html")
        failure: papermill.PapermillExecutionError | None = None
        with atomic_path(executed) as tmp:
            try:
                papermill.execute_notebook(
                    str(notebook), str(tmp), parameters=as_data(parameters),
                    kernel_name=self.kernel_name,
                    language="python",
                    cwd=str(cwd), progress_bar=False, log_output=False,
                    execution_timeout=self.timeout_s,
                )
            except papermill.PapermillExecutionError as exc:
                failure = exc  # keep the executed notebook before raising
        _render_html(executed, html)
        if failure is not None:
            raise NotebookError(_failure_message(failure, notebook, executed, what)) from failure
        return NotebookResult(executed, html, time.perf_counter() - started)


def _render_html(executed: Path, html: Path) -> None:
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")


def _failure_message(exc: Any, notebook: Path, executed: Path, what: str) -> str:
    trace = _ANSI.sub("", "\n".join(exc.traceback or []))
    return (
        f"{what}: notebook {notebook.name} failed in cell {exc.exec_count} "
        f"with {exc.ename}: {exc.evalue}\n"
        f"--- cell source ---\n{exc.source}\n--- traceback ---\n{trace}\n"
        f"Executed notebook kept at {executed} (HTML: {executed.with_suffix('.html')})"
    )


def as_data(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters reduced to JSON values: papermill writes a value it cannot translate (bytes,
    a date) as its str() between quotes, unescaped, which a crafted value could break out of."""
    return json.loads(json.dumps(parameters, default=str))
