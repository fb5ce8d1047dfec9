"""`assetbook init <folder> --data DIR --target COL`: a project on the user's own daily files
that runs to a served answer with no Python written: a schema inferred from the files, a
pass-through features module, the default model (TabularNet) tuned and trained for the task,
the shared evaluation notebook, a per-task gate, the generic served API."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from assetbook.runners.drift import FALSE_ALARMS, MIN_ROWS_PER_BIN, noise_floor
from assetbook.runners.training.data import model_columns
from assetbook.scaffold.common import SHARED_WITH_EXAMPLE, common_files
from assetbook.scaffold.data import HELD_OUT, DataFolder, read_data
from assetbook.scaffold.folder import Files, check_folder, commit_all, write_files
from assetbook.scaffold.inference import infer_columns, schema_code, task_of
from assetbook.scaffold.templates import TEMPLATES, example_sources, render
from assetbook.serving.target import Task

MAX_WINDOW = 14  # training days, like the loans example
DRIFT_THRESHOLD = 0.25  # PSI: < 0.1 stable, > 0.25 a real shift
DRIFT_BINS = 10  # the drift asset's default
RECORD = "row"  # the body field of one request: `service: {record: row}` in the template
# the evaluation notebook's one option, which only a binary task has
BINARY_EVALUATION = ("    config: {threshold: 0.5}   # predicted positive from this probability "
                     "on\n")


@dataclass(frozen=True)
class TabularProject:
    written: list[Path]
    left_out: tuple[str, ...]  # columns of the data the default model does not read (text)
    drift_floor: DriftFloor | None = None  # days too small for the drift threshold to hold


@dataclass(frozen=True)
class DriftFloor:
    """The PSI a day of this size reaches by chance (runners/drift.py's noise floor), for a
    column of many values, when it is above the drift check's threshold: a smaller shift of
    such a column goes unseen, and `init` says so."""

    rows_a_day: int
    floor: float
    rows_needed: int  # a day of at least this many rows brings the floor to the threshold

    def __str__(self) -> str:
        return (f"days of ~{self.rows_a_day} rows: drift_report tells a shift of a column of "
                f"many values from chance only above PSI {self.floor:.2f}, not at its "
                f"threshold {DRIFT_THRESHOLD} (that takes ~{self.rows_needed} rows a day)")


def drift_floor(rows_a_day: float, window: int, columns: int) -> DriftFloor | None:
    """The noise floor of a day of `rows_a_day` rows against `window` such days, when it is
    above the threshold; None when the threshold holds."""
    rows = max(1, round(rows_a_day))
    confidence = 1 - FALSE_ALARMS / max(columns, 1)

    def floor(day_rows: int) -> float:
        bins = max(2, min(DRIFT_BINS, day_rows // MIN_ROWS_PER_BIN))
        return noise_floor(window * day_rows, day_rows, bins, confidence)

    if floor(rows) <= DRIFT_THRESHOLD:
        return None
    needed = next(n for n in range(rows, 1_000_000, max(1, rows // 20))
                  if floor(n) <= DRIFT_THRESHOLD)
    return DriftFloor(rows, floor(rows), needed)


@dataclass(frozen=True)
class Bar:
    """The gate's minimum: low, only meant to refuse a model that learned nothing."""

    metric: str
    minimum: float
    why: str


def scaffold_tabular(root: Path, data: Path, target: str, task: Task | None = None
                     ) -> TabularProject:
    """Write a project on the daily files of `data` predicting `target` into `root` (absent,
    empty, or holding only `data`); returns the files written, and the columns of the data
    that the default model leaves out."""
    root, data = root.resolve(), data.resolve()
    inside = data.is_relative_to(root)
    check_folder(root, keep=data if inside else None)
    days = read_data(data, target)
    files = tabular_files(root, days, task_of(days.frame[target], task))
    if inside:
        files[".gitignore"] = f"{files['.gitignore']}/{data.relative_to(root).as_posix()}/\n"
    written = write_files(root, files, keep=data if inside else None)
    commit_all(root, f"A project on {data.name}/ (assetbook init)")
    read = set(model_columns(days.frame, target))
    return TabularProject(written, tuple(str(c) for c in days.frame.columns
                                         if c != target and c not in read),
                          drift_floor(len(days.frame) / len(days.days),
                                      min(MAX_WINDOW, len(days.days) - HELD_OUT), len(read)))


def tabular_files(root: Path, days: DataFolder, task: Task) -> Files:
    """Every file of the new project, by relative path."""
    pipeline = pipeline_name(root)
    schema = "".join(part.title() for part in pipeline.split("_")) + "Rows"
    frame = days.frame
    folder = _from_root(root, days.folder)
    origin = f"{len(days.days)} daily files of {days.folder} ({len(frame):,} rows)"
    values = dict(pipeline=pipeline, task=task, target_name=days.target, folder=folder,
                  origin=origin, models_row="")
    shared = example_sources()
    return {
        "project/__init__.py": f'"""The Python code of {root.name}: its schema and features; '
                               'Assetbook imports it from the project folder."""\n',
        **{name: shared[name] for name in SHARED_WITH_EXAMPLE},
        "project/schemas.py": schema_code(schema, infer_columns(frame, days.target, task),
                                          origin),
        "project/features.py": render("tabular/features.py.tmpl",
                                      missing=_medians(frame, days.target), **values),
        f"assets/{pipeline}.yaml": spec_text(root, days, task, schema, values),
        "notebooks/features.ipynb": features_notebook(
            _from_root(root, next(reversed(days.files.values())))),
        **common_files(root, "tabular/README.md.tmpl", **values),
    }


def spec_text(root: Path, days: DataFolder, task: Task, schema: str,
              values: dict[str, object]) -> str:
    """assets/<pipeline>.yaml: windows from the number of days, a gate for the task, and a
    real row of the data as the deployment's probe."""
    window = min(MAX_WINDOW, len(days.days) - HELD_OUT)
    target = days.frame[days.target]
    bar = gate_bar(task, target)
    rows_a_day = len(target) / len(days.days)
    return render(
        "tabular/pipeline.yaml.tmpl", **{**values, "folder": json.dumps(values["folder"])},
        title=root.name, target=json.dumps(days.target), schema=schema, window=window,
        held_out=HELD_OUT, batch_size=batch_size(rows_a_day * window),
        drift_threshold=DRIFT_THRESHOLD,
        gate_metric=bar.metric, gate_minimum=bar.minimum, gate_why=bar.why,
        margin=margin(task, target, rows_a_day * HELD_OUT),
        probe=json.dumps({RECORD: days.example_row()}),
        evaluation_config=BINARY_EVALUATION if task == "binary" else "")


def pipeline_name(root: Path) -> str:
    """A spec name (letters, digits, underscores) from the folder name."""
    name = re.sub(r"\W+", "_", root.name).strip("_").lower() or "pipeline"
    return f"p_{name}" if name[0].isdigit() else name


def gate_bar(task: Task, target: pd.Series) -> Bar:
    if task == "binary":
        return Bar("roc_auc", 0.6, "0.5 is a coin toss")
    if task == "multiclass":
        share = target.value_counts(normalize=True).max()
        return Bar("accuracy", min(math.ceil(share * 100 + 5) / 100, 0.99),
                   "5 points above always answering the most frequent class")
    return Bar("r2", 0.1, "0 is no better than answering the mean")


def margin(task: Task, target: pd.Series, held_out_rows: float) -> float:
    """One held-out row's worth of the compared score, and at least 0.01, so that a candidate
    one row worse is not refused: one row ranked otherwise moves binary ROC AUC by up to
    1/(rows of the rarer class), one answered otherwise moves macro F1 by about 1/(classes x
    rows of the rarest class). For regression, compared on rmse, 2% of the target's spread."""
    if task == "regression":
        spread = float(target.std()) * 0.02 or 0.01
        return float(f"{spread:.2g}")
    shares = target.value_counts(normalize=True)
    rarest = max(held_out_rows * float(shares.min()), 1.0)
    rows_per_point = rarest * (1 if task == "binary" else len(shares)) / 100
    return max(0.01, math.ceil(round(1 / rows_per_point, 9)) / 100)


def batch_size(training_rows: float) -> int:
    """A power of two giving ~8 or more batches an epoch, from 16 to 256."""
    return int(min(256, max(16, 2 ** math.floor(math.log2(max(training_rows * 0.8 / 8, 1))))))


def features_notebook(sample: str) -> str:
    """The generic features notebook, with `sample` (the day it computes when run on its own)
    set."""
    notebook = nbformat.read(TEMPLATES / "tabular/features.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", ()))
    assert 'sample = ""' in cell.source, "the features notebook template lost its `sample`"
    cell.source = cell.source.replace('sample = ""', f"sample = {json.dumps(sample)}")
    return nbformat.writes(notebook) + "\n"  # as Jupyter saves it: a save changes nothing


def _medians(frame: pd.DataFrame, target: str) -> str:
    gaps = [c for c in frame.columns if c != target and frame[c].isna().any()
            and pd.api.types.is_numeric_dtype(frame[c])]
    return repr({str(c): float(frame[c].median()) for c in gaps})


def _from_root(root: Path, path: Path) -> str:
    """Relative to the project when inside it (the project may move), else absolute."""
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
