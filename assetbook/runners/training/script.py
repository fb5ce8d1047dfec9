"""Entry point of a training subprocess: `python -m assetbook.runners.training.script JOB OUT`.

Lightning's DDP launcher starts the other ranks by re-running this very command, which is
why training never runs inside pytest, a Dagster step or a Ray worker. Rank 0 writes OUT:
the fit's result, or the error a user should see.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from assetbook.atomic import atomic_path
from assetbook.errors import AssetbookError
from assetbook.runners.training.fit import TrainingJob, fit


def main(job_path: str, out_path: str) -> int:
    job = TrainingJob.from_json(Path(job_path).read_text())
    rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK",
                                                                            "0") == "0"
    try:
        result = fit(job).to_json()
        code = 0
    except AssetbookError as exc:  # a user-facing error: hand its message to the parent
        result, code = json.dumps({"error": str(exc), "type": type(exc).__name__}), 2
    if rank_zero:
        with atomic_path(Path(out_path)) as tmp:
            tmp.write_text(result)
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
