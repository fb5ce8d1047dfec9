"""Scaling from 1 to N devices: the same training job (same global batch, data and epochs)
fitted by Assetbook's training launcher on 1 device and on N (Lightning DDP, one process a
device), samples per second of each and the N-device speed-up and efficiency (speed-up / N).

On a GPU machine: `--accelerator gpu --devices 8` (and a batch that fills them). On CPU (the
default) the N ranks use gloo and share the machine's cores (Lightning gives each its share of
torch threads). Each fit's time, as `fit` reports it, includes DDP's set-up: waiting for every
rank's process to start and join the process group.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from assetbook.runners.training.fit import FitResult, TrainingJob
from assetbook.runners.training.launch import train
from assetbook.spec.models import TrainerSpec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the loans example project, here and in the training processes
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))
from project.stream import LoanStream  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu",
                        help="where the ranks run (default: cpu, with gloo)")
    parser.add_argument("--devices", type=int, default=2, help="N: devices of the DDP fit")
    parser.add_argument("--rows", type=int, default=400_000, help="rows in the day trained on")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each fit (DDP's "
                        "set-up, in the timed fit, weighs less over more)")
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="global batch, split across the devices")
    args = parser.parse_args()
    if args.devices < 2:
        parser.error("--devices: at least 2 (the fit on 1 device is the baseline)")
    results: dict[int, FitResult] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "day.parquet")
        LoanStream(rows_per_partition=args.rows).generate("2024-01-01").to_parquet(path)
        for devices in (1, args.devices):
            spec = TrainerSpec(max_epochs=args.epochs, batch_size=args.batch_size,
                               accelerator=args.accelerator, devices=devices)
            job = TrainingJob("project.models:LoanClassifier", "label", (str(path),), spec)
            results[devices] = train(job, Path(tmp, f"fit-{devices}"))
    one, many = results[1], results[args.devices]
    speed_up = many.samples_per_second / one.samples_per_second
    print(f"training on {args.accelerator}, {one.train_rows:,} training rows x {args.epochs} "
          f"epochs, global batch {args.batch_size}")
    for devices, result in results.items():
        print(f"  {devices} device(s)  {result.samples_per_second:10,.0f} samples/s  "
              f"({result.seconds:.1f} s, world size {result.world_size})")
    print(f"  speed-up {speed_up:.2f}x on {args.devices} devices, efficiency "
          f"{speed_up / args.devices:.2f}")


if __name__ == "__main__":
    main()
