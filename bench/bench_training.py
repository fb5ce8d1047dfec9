"""Training throughput: Assetbook's Lightning fit vs. a plain PyTorch loop on the same model,
data, batch size and epochs, side by side in one run (samples per second)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from assetbook.runners.training.fit import TrainingJob, fit, job_module, load_dataset
from assetbook.spec.models import TrainerSpec
from project.stream import LoanStream


def plain_loop(job: TrainingJob) -> float:
    """The same module trained by hand: forward, loss, backward, step; returns samples/s."""
    torch.manual_seed(job.trainer.seed)
    dataset = load_dataset(job)
    module = job_module(job, dataset)
    optimizer = module.configure_optimizers()
    loader = DataLoader(TensorDataset(torch.from_numpy(dataset.x_train),
                                      torch.from_numpy(dataset.y_train)),
                        batch_size=job.trainer.batch_size, shuffle=True)
    started = time.perf_counter()
    for _ in range(job.trainer.max_epochs):
        module.train()
        for x, y in loader:
            optimizer.zero_grad()
            module.loss(module(x), y).backward()
            optimizer.step()
        module.eval()
        with torch.no_grad():
            module.loss(module(torch.from_numpy(dataset.x_val)), torch.from_numpy(dataset.y_val))
    seconds = time.perf_counter() - started
    return len(dataset.x_train) * job.trainer.max_epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "day.parquet")
        LoanStream(rows_per_partition=args.rows).generate("2024-01-01").to_parquet(path)
        job = TrainingJob("project.models:LoanClassifier", "label", (str(path),),
                          TrainerSpec(max_epochs=args.epochs, batch_size=args.batch_size))
        plain = plain_loop(job)
        lightning = fit(job).samples_per_second
    print(f"training {args.rows:,} rows x {args.epochs} epochs, batch {args.batch_size}, CPU")
    print(f"  plain PyTorch loop  {plain:12,.0f} samples/s  1.00x")
    print(f"  Assetbook/Lightning {lightning:12,.0f} samples/s  {lightning / plain:.2f}x")


if __name__ == "__main__":
    main()
