"""ASHA vs. the same trials run to full budget: best metric reached and epochs spent."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.tuning import TuneJob, search
from assetbook.spec.models import AshaSpec, SearchSpec, TrainerSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.stream import LoanStream  # noqa: E402

SPACE = {"lr": {"type": "loguniform", "low": 1e-4, "high": 3e-2},
         "hidden": {"type": "choice", "values": [16, 32, 64]},
         "dropout": {"type": "uniform", "low": 0.0, "high": 0.3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for day in ("2024-01-01", "2024-01-02"):
            paths.append(str(Path(tmp, f"{day}.parquet")))
            LoanStream(rows_per_partition=3000).generate(day).to_parquet(paths[-1])
        training = TrainingJob("project.models:LoanClassifier", "label", tuple(paths),
                               TrainerSpec(max_epochs=args.epochs))
        outcome = {}
        for name, scheduler in (("asha", AshaSpec()), ("full budget", None)):
            spec = SearchSpec(space=SPACE, num_samples=args.trials, algorithm="random",
                              scheduler=scheduler, seed=1)
            outcome[name] = search(TuneJob(training, spec, name.replace(" ", "_"),
                                           Path(tmp, "ray")))
    full = outcome["full budget"]
    print(f"{args.trials} trials x up to {args.epochs} epochs, the same sampled configs")
    for name, result in outcome.items():
        print(f"  {name:12s} best val_loss {result.best_metric:.4f}   epochs "
              f"{result.total_epochs:3d} ({result.total_epochs / full.total_epochs:.2f}x)   "
              f"stopped early {result.stopped_early}")


if __name__ == "__main__":
    main()
