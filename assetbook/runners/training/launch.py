"""Run a training job in its own process (and, under DDP, its own process group)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from assetbook.errors import AssetbookError, StepTimeoutError
from assetbook.runners.training.fit import FitResult, TrainingJob


class TrainingError(AssetbookError):
    """A training subprocess failed; the message is the user-facing reason or the log tail."""


def train(job: TrainingJob, workdir: Path, timeout_s: float | None = None,
          what: str = "training") -> FitResult:
    """Fit `job` in `python -m assetbook.runners.training.script`; its log stays in `workdir`.

    `what` names the step in the timeout's message, e.g. "asset 'candidate_model'".
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        job_file, out_file = Path(scratch, "job.json"), Path(scratch, "result.json")
        job_file.write_text(job.to_json())
        log_file = workdir / "train.log"
        command = [sys.executable, "-m", "assetbook.runners.training.script", str(job_file),
                   str(out_file)]
        with log_file.open("w") as log, _process_group(command, log) as process:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired as exc:
                raise StepTimeoutError(what, exc.timeout, "the training processes are stopped; "
                                       f"log {log_file}:\n{_tail(log_file)}") from None
        result = json.loads(out_file.read_text()) if out_file.exists() else None
    if result and "error" in result:
        raise TrainingError(result["error"])
    if process.returncode != 0 or result is None:
        raise TrainingError(f"training exited with code {process.returncode}; log "
                            f"{log_file}:\n{_tail(log_file)}")
    return FitResult(**result)


@contextlib.contextmanager
def _process_group(command: list[str], log: IO[str]) -> Iterator[subprocess.Popen]:
    """`command` as the leader of a new process group, killed with its whole group on the way
    out (the script, the DDP ranks Lightning started, data loader workers): after a timeout or
    an interrupt, none of them may keep running or hold a device."""
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log_file: Path) -> str:
    return log_file.read_text()[-4000:]
