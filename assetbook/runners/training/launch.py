"""Run a training job in its own process (and, under DDP, its own process group)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from assetbook.errors import AssetbookError
from assetbook.runners.training.fit import FitResult, TrainingJob


class TrainingError(AssetbookError):
    """A training subprocess failed; the message is the user-facing reason or the log tail."""


def train(job: TrainingJob, workdir: Path, timeout_s: float | None = None) -> FitResult:
    """Fit `job` in `python -m assetbook.runners.training.script`; its log stays in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        job_file, out_file = Path(scratch, "job.json"), Path(scratch, "result.json")
        job_file.write_text(job.to_json())
        log_file = workdir / "train.log"
        with log_file.open("w") as log:
            process = subprocess.run(
                [sys.executable, "-m", "assetbook.runners.training.script", str(job_file),
                 str(out_file)],
                stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
            )
        result = json.loads(out_file.read_text()) if out_file.exists() else None
    if result and "error" in result:
        raise TrainingError(result["error"])
    if process.returncode != 0 or result is None:
        tail = log_file.read_text()[-4000:]
        raise TrainingError(f"training exited with code {process.returncode}; log "
                            f"{log_file}:\n{tail}")
    return FitResult(**result)
