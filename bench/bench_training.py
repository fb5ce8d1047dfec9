"""Training throughput: Assetbook's `fit` (Lightning) against the fastest loop written by hand
in plain PyTorch (a shuffled index and tensor slices, no per-sample loader, no Lightning), on
the same module class, data, batch size and epochs, at 10,000 and 1,000,000 rows, in one run
(samples per second; the best of several runs, the two taking turns).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from assetbook.runners.training.data import Dataset
from assetbook.runners.training.fit import TrainingJob, fit, job_module, load_dataset
from assetbook.spec.models import TrainerSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
import hand_pipeline  # noqa: E402  (beside this script: the plain loop of bench_large)

from project.stream import LoanStream  # noqa: E402

CASES = ((10_000, 5, 5), (1_000_000, 1, 1))  # rows in the day, epochs, runs per --repeat


def hand_loop(job: TrainingJob, dataset: Dataset) -> float:
    """The same module trained by hand, with a validation pass each epoch; samples/s."""
    torch.manual_seed(job.trainer.seed)
    module = job_module(job, dataset)
    optimizer = module.configure_optimizers()
    x, y = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
    x_val, y_val = torch.from_numpy(dataset.x_val), torch.from_numpy(dataset.y_val)
    started = time.perf_counter()
    for _ in range(job.trainer.max_epochs):
        hand_pipeline.epochs(module, optimizer, x, y, 1, job.trainer.batch_size)
        hand_pipeline.val_loss(module, x_val, y_val)
    return len(x) * job.trainer.max_epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each at 1,000,000 rows, "
                        "the best counting; the 10,000-row case, whose run takes 0.2 s and "
                        "varies more, runs 5x as many")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: "
                        "this MLP's ops are too small to split; with two, both loops were "
                        "erratic, up to 25x slower, on the shared 2-core machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning_fabric"):  # "GPU available: False" a fit
        logging.getLogger(name).setLevel(logging.WARNING)
    lines = []
    for rows, epochs, runs in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "day.parquet")
            LoanStream(rows_per_partition=rows).generate("2024-01-01").to_parquet(path)
            job = TrainingJob("project.models:LoanClassifier", "label", (str(path),),
                              TrainerSpec(max_epochs=epochs, batch_size=args.batch_size))
            dataset = load_dataset(job)
        plain, ours = 0.0, 0.0
        for _ in range(args.repeat * runs):
            plain = max(plain, hand_loop(job, dataset))
            ours = max(ours, fit(job, dataset).samples_per_second)
        lines += [f"{rows:,} rows ({len(dataset.x_train):,} training) x {epochs} epochs",
                  f"  hand-written loop   {plain:10,.0f} samples/s  1.00x",
                  f"  Assetbook fit       {ours:10,.0f} samples/s  {ours / plain:.2f}x"]
    print(f"training, batch {args.batch_size}, CPU, {args.threads} torch threads, best of "
          f"{args.repeat * CASES[0][2]} and {args.repeat}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
