"""The hyper-parameter search's overhead: Assetbook's Ray Tune search, with the local Ray it
starts and stops, vs. the same number of fits back to back in one process, on the same data,
with the search spec of the loans example (4 trials x 6 epochs, ASHA, Optuna).

Each try is a fresh process that runs the fits first, then the search, so each side pays its
own imports: the fits Lightning's, the search Ray's and its trial processes' (Tune, PyTorch,
Lightning). Prints the median of --repeat tries of each, the ratio, and where the time went.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from assetbook.runners.training.fit import TrainingJob, fit, load_dataset
from assetbook.runners.tuning import TuneJob, search
from assetbook.spec.models import AshaSpec, SearchSpec, TrainerSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.stream import LoanStream  # noqa: E402

SPACE = {"lr": {"type": "loguniform", "low": 1e-3, "high": 3e-2},  # assets/loans.yaml
         "hidden": {"type": "choice", "values": [32, 64]},
         "dropout": {"type": "uniform", "low": 0.0, "high": 0.3}}
CONFIGS = [{"lr": 6.5e-3, "hidden": 32, "dropout": 0.16},  # what the search tries first
           {"lr": 4.2e-3, "hidden": 32, "dropout": 0.27},
           {"lr": 2.7e-2, "hidden": 64, "dropout": 0.16},
           {"lr": 6.9e-3, "hidden": 32, "dropout": 0.03}]
FITS, SEARCH = "fits", "search"


def timed_calls(seconds: dict[str, float]) -> None:
    """Time Ray's start, Tune's run of the trials and Ray's stop as search() makes them."""
    import ray
    from ray import tune

    def timing(name: str, call: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    ray.init = timing("Ray's start", ray.init)
    tune.Tuner.fit = timing("the trials (Tuner.fit)", tune.Tuner.fit)
    ray.shutdown = timing("Ray's stop", ray.shutdown)


def one_try(folder: Path, trials: int, epochs: int) -> dict[str, Any]:
    """The fits, then the search, in this process: seconds of each and of their parts."""
    for name in ("pytorch_lightning", "lightning_fabric"):  # "GPU available: False" a fit
        logging.getLogger(name).setLevel(logging.WARNING)
    training = TrainingJob("project.models:LoanClassifier", "label",
                           tuple(sorted(str(path) for path in folder.glob("*.parquet"))),
                           TrainerSpec(max_epochs=epochs, batch_size=256))
    fitting: dict[str, float] = {}
    started = time.perf_counter()
    import pytorch_lightning  # noqa: F401  (the first fit would; timed on its own)

    fitting["importing Lightning"] = time.perf_counter() - started
    dataset = load_dataset(training)
    for config in (CONFIGS * trials)[:trials]:
        fit(replace(training, hyperparameters={**training.hyperparameters, **config}), dataset)
    fitting[FITS] = time.perf_counter() - started

    searching: dict[str, float] = {}
    spec = SearchSpec(space=SPACE, num_samples=trials,
                      scheduler=AshaSpec(grace_period=1, reduction_factor=2))
    with tempfile.TemporaryDirectory(prefix="bench-search-") as results:
        started = time.perf_counter()
        import ray  # noqa: F401  (search() would; timed on its own)

        searching["importing Ray"] = time.perf_counter() - started
        timed_calls(searching)
        result = search(TuneJob(training, spec, "bench", Path(results)))
        searched = time.perf_counter() - started
    searching["data, space check, the Tuner"] = searched - sum(searching.values())
    searching[SEARCH] = searched
    return {"fits": fitting, "search": searching, "rows": len(dataset.x_train),
            "epochs": result.total_epochs, "stopped_early": result.stopped_early}


def median(tries: list[dict[str, Any]], side: str) -> dict[str, float]:
    return {name: statistics.median(t[side][name] for t in tries) for name in tries[0][side]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2000, help="rows a day")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3, help="tries, each in a fresh "
                        "process; the median is printed (default: 3)")
    parser.add_argument("--one-try", type=Path, help=argparse.SUPPRESS)  # the data's folder
    args = parser.parse_args()
    if args.one_try:
        print(json.dumps(one_try(args.one_try, args.trials, args.epochs)))
        return
    tries = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for day in range(1, args.days + 1):
            LoanStream(rows_per_partition=args.rows).generate(f"2024-01-{day:02d}").to_parquet(
                Path(tmp, f"2024-01-{day:02d}.parquet"))
        for _ in range(args.repeat):
            done = subprocess.run(
                [sys.executable, __file__, "--one-try", tmp, f"--trials={args.trials}",
                 f"--epochs={args.epochs}"], capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"a try failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
            tries.append(json.loads(done.stdout.strip().splitlines()[-1]))
    fitting, searching = median(tries, "fits"), median(tries, "search")
    fitted, searched = fitting.pop(FITS), searching.pop(SEARCH)
    ratios = sorted(t["search"][SEARCH] / t["fits"][FITS] for t in tries)
    print(f"{args.trials} trials x up to {args.epochs} epochs (ASHA, Optuna), "
          f"{tries[0]['rows']:,} training rows, CPU; median of {args.repeat}")
    print(f"  {args.trials} fits back to back, one process {fitted:7.2f} s  "
          f"{args.trials * args.epochs} epochs  1.00x")
    for name, value in fitting.items():
        print(f"    {name:36s} {value:7.2f} s")
    epochs = "/".join(str(t["epochs"]) for t in tries)
    print(f"  Assetbook search(), a local Ray     {searched:7.2f} s  {epochs} epochs  "
          f"{searched / fitted:.2f}x  (tries: {', '.join(f'{r:.2f}x' for r in ratios)})")
    for name, value in searching.items():
        print(f"    {name:36s} {value:7.2f} s")


if __name__ == "__main__":
    main()
