"""The loans example's default pipeline up to the champion, written by hand as one script, as
fast as a plain PyTorch engineer would write it: `bench_large.py` runs it against
`assetbook run --no-serve` on the same landed days.

The same work, step by step: read each landed day; validate it against the pandera schema;
make its features (the project's own transform); score each day's drift against the days
before it (PSI per column); search the 4 configurations the search tries first, with ASHA's
rungs (grace 1, reduction 2, 6 epochs) run synchronously; train the candidate 10 epochs on the
12-day window with the best configuration; score it on the 2 held-out days with the report's
figures (ROC, precision-recall, calibration); apply the gate; save the model atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn import metrics  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.features import make_features  # noqa: E402
from project.models import LoanClassifier  # noqa: E402
from project.schemas import LoanApplications  # noqa: E402

CONFIGS = [{"lr": 6.5e-3, "hidden": 32, "dropout": 0.16},  # as bench_search.py
           {"lr": 4.2e-3, "hidden": 32, "dropout": 0.27},
           {"lr": 2.7e-2, "hidden": 64, "dropout": 0.16},
           {"lr": 6.9e-3, "hidden": 32, "dropout": 0.03}]
RUNGS = (1, 2, 4, 6)  # ASHA: grace period 1, reduction factor 2, 6 epochs at most
BATCH, EPOCHS, HELD_OUT, REFERENCE = 256, 10, 2, 14


def psi(reference: np.ndarray, day: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return 0.0
    expected = np.histogram(np.clip(reference, edges[0], edges[-1]), edges)[0] / len(reference)
    actual = np.histogram(np.clip(day, edges[0], edges[-1]), edges)[0] / len(day)
    expected, actual = np.clip(expected, 1e-6, None), np.clip(actual, 1e-6, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def epochs(module: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
           y: torch.Tensor, count: int, batch: int = BATCH) -> None:
    """The fastest plain loop: a shuffled index, then tensor slices (no per-sample loader)."""
    for _ in range(count):
        module.train()
        order = torch.randperm(len(x))
        xs, ys = x[order], y[order]
        for start in range(0, len(xs), batch):
            optimizer.zero_grad()
            module.loss(module(xs[start:start + batch]), ys[start:start + batch]).backward()
            optimizer.step()


def val_loss(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    module.eval()
    with torch.no_grad():
        return float(module.loss(module(x), y))


def search(data: dict[str, torch.Tensor], n_features: int) -> dict:
    """Successive halving over the configurations, at ASHA's rungs."""
    trials = []
    for config in CONFIGS:
        module = LoanClassifier(n_features, **config)
        trials.append({"config": config, "module": module, "epochs": 0, "loss": np.inf,
                       "optimizer": module.configure_optimizers()})
    alive = trials
    for rung in RUNGS:
        for trial in alive:
            epochs(trial["module"], trial["optimizer"], data["x"], data["y"],
                   rung - trial["epochs"])
            trial["epochs"], trial["loss"] = rung, val_loss(trial["module"], data["x_val"],
                                                            data["y_val"])
        alive = sorted(alive, key=lambda t: t["loss"])[:max(1, len(alive) // 2)]
    return min(trials, key=lambda t: t["loss"])["config"]


def report(folder: Path, truth: np.ndarray, probability: np.ndarray) -> None:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    fpr, tpr, _ = metrics.roc_curve(truth, probability)
    axes[0].plot(fpr, tpr)
    precision, recall, _ = metrics.precision_recall_curve(truth, probability)
    axes[1].plot(recall, precision)
    bins = np.clip((probability * 10).astype(int), 0, 9)
    axes[2].plot([probability[bins == b].mean() for b in range(10) if (bins == b).any()],
                 [truth[bins == b].mean() for b in range(10) if (bins == b).any()])
    figure.savefig(folder / "report.png")
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("landing", type=Path, help="the landed days (<day>.parquet)")
    parser.add_argument("out", type=Path, help="where the model and report go")
    args = parser.parse_args()
    torch.manual_seed(0)
    started = time.perf_counter()
    days = []
    for path in sorted(args.landing.glob("*.parquet")):
        validated = LoanApplications.validate(pd.read_parquet(path), lazy=True)
        days.append(make_features(validated, log_money=True))
    columns = [c for c in days[0].columns if c != "label"]
    drift = {}
    for number in range(1, len(days)):
        reference = pd.concat(days[max(0, number - REFERENCE):number])
        drift[number] = {c: psi(reference[c].to_numpy(float), days[number][c].to_numpy(float))
                         for c in columns}
    window, held_out = pd.concat(days[:-HELD_OUT]), pd.concat(days[-HELD_OUT:])
    order = np.random.default_rng(0).permutation(len(window))
    n_val = int(len(window) * 0.2)
    train, val = window.iloc[order[n_val:]], window.iloc[order[:n_val]]
    values = train[columns].to_numpy(np.float64)
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale[scale == 0] = 1.0

    def tensors(frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((frame[columns].to_numpy(np.float64) - mean) / scale).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(frame["label"].to_numpy(np.float32))

    x, y = tensors(train)
    x_val, y_val = tensors(val)
    best = search({"x": x, "y": y, "x_val": x_val, "y_val": y_val}, len(columns))
    model = LoanClassifier(len(columns), **best)
    epochs(model, model.configure_optimizers(), x, y, EPOCHS)
    x_test, y_test = tensors(held_out)
    model.eval()
    with torch.no_grad():
        probability = torch.sigmoid(model(x_test)).numpy()
    truth = y_test.numpy()
    scores = {"accuracy": float(((probability > 0.5) == truth).mean()),
              "roc_auc": float(metrics.roc_auc_score(truth, probability))}
    args.out.mkdir(parents=True, exist_ok=True)
    report(args.out, truth, probability)
    promoted = scores["accuracy"] >= 0.75 and scores["roc_auc"] >= 0.80
    if promoted:
        temporary = args.out / "model.pt.tmp"
        torch.save({"state": model.state_dict(), "mean": mean, "scale": scale,
                    "config": best}, temporary)
        os.replace(temporary, args.out / "model.pt")
    print(json.dumps({"seconds": time.perf_counter() - started, "scores": scores,
                      "config": best, "promoted": promoted,
                      "drifted_days": sum(max(d.values()) > 0.1 for d in drift.values())}))


if __name__ == "__main__":
    main()
