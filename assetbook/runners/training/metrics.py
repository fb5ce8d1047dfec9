"""A fit's hyper-parameters and metrics, to its MLflow run while it trains, from the process
that launched it.

Lightning's `MLFlowLogger` would import MLflow and open its store in the training process
(~2 s of CPU before the first epoch, measured), which the launching step has already paid
for. So rank 0 appends what Lightning logs to a file, as JSON lines, and the launching
process sends each new record to the run in one `log_batch`, as it reads the epochs'
progress: the run's curves still grow epoch by epoch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from assetbook.runners.training.progress import new_lines


def file_logger(path: Path) -> Any:
    """A Lightning logger that appends each logged record to `path`: {"params": {...}} or
    {"step": n, "time": ms, "metrics": {...}}."""
    import pytorch_lightning as pl
    from pytorch_lightning.utilities import rank_zero_only

    class MetricsFileLogger(pl.loggers.Logger):
        name, version = "assetbook", "0"

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            self._append({"params": _flat(dict(params))})

        @rank_zero_only
        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self._append({"step": step or 0, "time": int(time.time() * 1000),
                          "metrics": {k: float(v) for k, v in metrics.items()}})

        def _append(self, record: dict[str, Any]) -> None:
            with path.open("a") as records:
                records.write(json.dumps(record) + "\n")

    return MetricsFileLogger()


class MetricsForwarder:
    """Sends the records appended to `path` to the MLflow run `run_id`, each once."""

    def __init__(self, path: Path, tracking_uri: str | None, run_id: str) -> None:
        self.path, self.tracking_uri, self.run_id, self.offset = path, tracking_uri, run_id, 0
        self.client: Any = None

    def poll(self) -> None:
        self.offset, lines = new_lines(self.path, self.offset)
        if not lines:
            return
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        self.client = self.client or MlflowClient(self.tracking_uri)
        params, metrics = [], []
        for record in map(json.loads, lines):
            params += [Param(k, str(v)[:6000]) for k, v in record.get("params", {}).items()]
            metrics += [Metric(k, v, record["time"], record["step"])  # when it was logged
                        for k, v in record.get("metrics", {}).items()]
        self.client.log_batch(self.run_id, metrics=metrics, params=params)


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as `a/b`, as Lightning's own MLflow logger names them."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
