"""Edits of the default pipeline file that make tests' runs cheap while keeping every asset
kind real: fewer epochs and trials, or no Ray search at all, and a gate every candidate
passes (for tests about serving and automation, not model quality)."""

from __future__ import annotations

from pathlib import Path

import yaml

SEARCH = "hyperparameters"
FIXED = {"hidden": 32, "lr": 0.01, "dropout": 0.1}
FAST = {"trainer: {max_epochs: 6, batch_size: 256}": "trainer: {max_epochs: 1, batch_size: 256}",
        "num_samples: 4": "num_samples: 2",
        "max_epochs: 10": "max_epochs: 2",
        "min: {accuracy: 0.75, roc_auc: 0.80}": "min: {accuracy: 0.0, roc_auc: 0.0}",
        "margin: 0.01": "margin: 1.0"}


def without_search(spec: dict, batch_size: int = 32) -> dict:
    """The pipeline file with the tune asset removed and its result fixed in the trainer
    (small batches by default: enough steps on the few rows of a quick run)."""
    assets = spec["assets"]
    assets.pop(SEARCH)
    model = assets["candidate_model"]
    model["inputs"].pop(SEARCH)
    model["hyperparameters"] = dict(FIXED)
    model["trainer"].update(batch_size=batch_size)
    return spec


def one_trial_at_a_time(text: str, trials: int) -> str:
    """The search of a spec's text with `trials` samples run one after the other: their one
    trial process imports PyTorch and Lightning once (~5 s of CPU), not once per trial run
    beside it. The concurrent default stays tested where it matters (the shared profile's
    trials on two nodes, tests/runners/test_tuning.py)."""
    old = f"num_samples: {trials}\n"
    assert old in text, f"the spec's search changed ('{old}' is gone)"
    return text.replace(old, f"{old}      max_concurrent_trials: 1\n")


def speed_up(root: Path, search: bool, concurrent_trials: bool = False) -> None:
    """Make the project's runs take seconds (see FAST), with or without its search (whose
    trials run one at a time unless `concurrent_trials`)."""
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text()
    for old, new in FAST.items():
        assert old in text, f"the default spec changed ('{old}' is gone): update FAST"
        text = text.replace(old, new)
    if search and not concurrent_trials:
        text = one_trial_at_a_time(text, 2)
    if not search:
        text = yaml.safe_dump(without_search(yaml.safe_load(text)), sort_keys=False)
    spec.write_text(text)


def source(name: str, partitions: str, source: str) -> str:
    """A `source` asset of a pipeline file, e.g. source("labels", "days", "{type: landing}")."""
    return f"""
  {name}:
    kind: source
    partitions: {partitions}
    source: {source}"""


def live_performance(partitions: str) -> str:
    """The answers a pump-state classifier's server recorded (in `served/`), the labels that
    land for them, and their live performance, each a day a partition."""
    return (source("predictions", partitions, "{type: served, folder: served}")
            + source("labels", partitions, "{type: landing, formats: [csv]}") + f"""
  live_performance:
    kind: live
    partitions: {partitions}
    inputs: {{predictions: same, labels: same}}
    target: state
    min: {{accuracy: 0.7}}
""")
