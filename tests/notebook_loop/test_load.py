"""`from assetbook import load` on a materialized project: each value is what the pipeline
stored (the files its IO manager wrote, the metrics its evaluation notebook computed), and a
wrong request names what exists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from assetbook import load, load_model
from assetbook.errors import AssetbookError
from assetbook.serving.model_file import Predictor
from tests.notebook_loop.conftest import DAYS, Materialized


def stored_frames(project: Materialized, keys: list[str]) -> pd.DataFrame:
    folder = project.state.artifacts / "features"
    return pd.concat([pd.read_parquet(folder / f"{key}.parquet") for key in keys],
                     ignore_index=True)


def test_one_partition_from_a_notebook_folder(materialized: Materialized,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(materialized.root / "notebooks")  # found by walking up, as in a kernel
    frame = load("features", partition=DAYS[2])
    pd.testing.assert_frame_equal(frame, stored_frames(materialized, [DAYS[2]]))
    assert not frame.equals(stored_frames(materialized, [DAYS[1]]))  # days differ


def test_a_range_and_the_last_n_partitions_in_key_order(materialized: Materialized) -> None:
    root = materialized.root
    pd.testing.assert_frame_equal(load("features", start=DAYS[1], end=DAYS[2], project=root),
                                  stored_frames(materialized, DAYS[1:3]))
    pd.testing.assert_frame_equal(load("features", start=DAYS[2], project=root),
                                  stored_frames(materialized, DAYS[2:]))
    pd.testing.assert_frame_equal(load("features", last=3, project=root),
                                  stored_frames(materialized, DAYS[1:]))


def test_load_model_reads_a_registered_version_by_alias_or_number(
        materialized: Materialized, capsys: pytest.CaptureFixture[str]) -> None:
    """The registry's version, as the bento is built from it: here the one fit, v1, which
    `candidate` names and no `champion` yet (the gate has not run)."""
    root = materialized.root
    held_out = load("features", last=2, project=root)
    stored = load("candidate_model", project=root).predict(held_out)
    for model in (load_model("candidate", project=root), load_model(version=1, project=root)):
        assert isinstance(model, Predictor)
        np.testing.assert_array_equal(model.predict(held_out), stored)
    assert "Downloading artifacts" not in capsys.readouterr().err  # MLflow's bar, in a notebook
    with pytest.raises(AssetbookError, match="no version of loans_classifier has the alias "
                                             "'champion' \\(yet\\)"):
        load_model(project=root)
    with pytest.raises(AssetbookError, match="no registered model 'houses'; the project's: "
                                             "loans_classifier"):
        load_model(model="houses", project=root)


def test_the_model_predicts_what_the_pipeline_scored(materialized: Materialized) -> None:
    """The loaded model, with its preprocessing, on the loaded held-out days gives exactly the
    probabilities the evaluation notebook scored: same ROC AUC and log loss."""
    root = materialized.root
    model, report = load("candidate_model", project=root), load("evaluation_report", project=root)
    held_out = load("features", last=2, project=root)
    assert isinstance(model, Predictor) and report["days"] == DAYS[2:]
    truth = held_out[model.target.name].to_numpy() == model.target.classes[1]
    positive = model.predict(held_out)[:, 1]
    scored = report["candidate"]
    assert metrics.roc_auc_score(truth, positive) == pytest.approx(scored["roc_auc"], abs=1e-9)
    assert metrics.log_loss(truth, positive, labels=[False, True]) == pytest.approx(
        scored["log_loss"], abs=1e-6)
    assert scored["rows"] == len(held_out) == 600
    stored = Predictor.load(materialized.state.artifacts / "candidate_model" / "all.pt")
    np.testing.assert_array_equal(model.predict(held_out), stored.predict(held_out))


def test_the_report_is_what_the_evaluation_stored(materialized: Materialized) -> None:
    stored = json.loads((materialized.state.artifacts / "evaluation_report" / "all.json")
                        .read_text())
    report = load("evaluation_report", project=materialized.root)
    assert report == stored and report["candidate"]["accuracy"] > 0


@pytest.mark.parametrize(("asset", "arguments", "message"), [
    ("featurs", {}, "no asset 'featurs' in {root}; did you mean 'features'? The assets: bento,"),
    ("champion", {}, "'champion' has never been materialized in {root}; run the pipeline first"),
    ("features", {"partition": "2024-02-01"}, "'features' has no materialized partition "
     "'2024-02-01' (materialized: 2024-01-01, 2024-01-02, 2024-01-03, 2024-01-04)"),
    ("features", {}, "'features' is partitioned: give one of partition='KEY', start='KEY' and/or "
     "end='KEY', or last=N (materialized: 2024-01-01, 2024-01-02, 2024-01-03, 2024-01-04)"),
    ("features", {"start": DAYS[2], "end": "2024-01-09"}, "'features' has no partition "
     "'2024-01-09' (materialized: 2024-01-01"),
    ("features", {"partition": DAYS[0], "last": 2}, "'features' is partitioned: give one of"),
    ("evaluation_report", {"last": 1}, "'evaluation_report' is not partitioned: call "
     "load('evaluation_report') without last"),
])
def test_a_wrong_request_names_what_exists(materialized: Materialized, asset: str,
                                           arguments: dict, message: str) -> None:
    with pytest.raises(AssetbookError) as raised:
        load(asset, project=materialized.root, **arguments)
    assert message.format(root=materialized.root) in str(raised.value)


def test_outside_a_project_it_says_where_it_looked(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssetbookError, match="no Assetbook project in .* or above it"):
        load("features", partition=DAYS[0])


def test_import_assetbook_stays_cheap() -> None:
    """`load` is imported on first use: the CLI, the serving runtime and the code location
    import `assetbook` without Dagster or pandas."""
    code = ("import sys, assetbook; print(sorted(m for m in ('dagster', 'pandas', 'torch') "
            "if m in sys.modules)); assetbook.load")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
