"""Run a training job in its own process (and, under DDP, its own process group)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from assetbook.errors import AssetbookError, StepTimeoutError
from assetbook.runners.training.fit import FitResult, TrainingJob
from assetbook.runners.training.metrics import MetricsForwarder
from assetbook.runners.training.progress import ProgressFile, Report


class TrainingError(AssetbookError):
    """A training subprocess failed; the message is the user-facing reason or the log tail."""


def train(job: TrainingJob, workdir: Path, timeout_s: float | None = None,
          what: str = "training", report: Report | None = None) -> FitResult:
    """Fit `job` in `python -m assetbook.runners.training.script`; its log stays in `workdir`.

    `what` names the step in the timeout's message, e.g. "asset 'candidate_model'";
    `report` receives each epoch's line ("epoch 3 of 10, val_loss 0.4120") as it ends.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        job_file, out_file = Path(scratch, "job.json"), Path(scratch, "result.json")
        progress = ProgressFile(Path(scratch, "progress"), report)
        # what the fit logs reaches its MLflow run from here, as it goes (metrics.py)
        forwarder = MetricsForwarder(Path(scratch, "metrics"), job.mlflow_tracking_uri,
                                     job.mlflow_run_id) if job.mlflow_run_id else None
        job_file.write_text(replace(
            job, progress=str(progress.path), mlflow_run_id=None,
            metrics=str(forwarder.path) if forwarder else None).to_json())
        log_file = workdir / "train.log"
        command = [sys.executable, "-m", "assetbook.runners.training.script", str(job_file),
                   str(out_file)]
        with log_file.open("w") as log, _process_group(command, log) as process:
            if not _wait(process, timeout_s, progress, forwarder):
                raise StepTimeoutError(what, timeout_s, "the training processes are stopped; "
                                       f"log {log_file}:\n{_tail(log_file)}")
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


def _wait(process: subprocess.Popen, timeout_s: float | None, progress: ProgressFile,
          forwarder: MetricsForwarder | None, every_s: float = 1.0) -> bool:
    """Wait for `process`, reporting progress and forwarding metrics as it goes; False if
    `timeout_s` ran out."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        left = every_s if deadline is None else min(every_s, deadline - time.monotonic())
        try:
            process.wait(timeout=max(left, 0))
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        progress.poll()
        if forwarder:
            forwarder.poll()
        if ended:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _tail(log_file: Path) -> str:
    return log_file.read_text()[-4000:]
