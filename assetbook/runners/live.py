"""Live performance: recorded predictions joined with the labels that arrived later.

Rows are matched by `request_id` and `row` (a row's place in its request; single-row
requests have row 0). Metrics are the task's, per model version: accuracy (and ROC AUC for
two classes) of a classifier, whose answers carry `probability_<class>` columns; rmse, mae
and r2 of a regression. Label coverage is the share of answered rows with a label; the label
delay, from the answer to the label's `labelled_at`, when the labels carry one. With the
refused requests, the error rate is the share of a version's requests it refused (4xx).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

KEYS = ["request_id", "row"]


def joined(predictions: pd.DataFrame, labels: pd.DataFrame, target: str) -> pd.DataFrame:
    """Every answered row, with its label where one arrived (NaN otherwise)."""
    labels = labels.assign(row=labels.get("row", 0))
    labels = labels.astype({"request_id": str, "row": int})
    kept = [*KEYS, target, *(["labelled_at"] if "labelled_at" in labels else [])]
    answered = predictions.astype({"request_id": str, "row": int})
    return answered.merge(labels[kept].rename(columns={target: "truth"}), on=KEYS, how="left")


def performance(rows: pd.DataFrame, refusals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model version: answered, labelled, coverage, the task's metrics, latency
    percentiles and label delay; with `refusals`, the refused requests and the error rate."""
    answered = [{"model_version": str(version), **_version(group)}
                for version, group in rows.groupby("model_version", sort=True)] if len(rows) else []
    table = pd.DataFrame(answered) if answered else pd.DataFrame(
        {"model_version": pd.Series(dtype=str)})  # a day without traffic
    if refusals is None:
        return table
    requests = (rows.groupby(rows["model_version"].astype(str))["request_id"].nunique()
                if len(rows) else pd.Series(dtype=int))
    refused = refusals.groupby(refusals["model_version"].astype(str)).size()
    errors = pd.DataFrame({"requests": requests.add(refused, fill_value=0), "refused": refused}
                          ).fillna({"refused": 0}).astype(int)
    errors["error_rate"] = errors["refused"] / errors["requests"]
    return table.merge(
        errors.rename_axis("model_version").reset_index(), on="model_version", how="outer"
    ).fillna({"answered": 0, "labelled": 0})


def _version(rows: pd.DataFrame) -> dict[str, float]:
    labelled = rows[rows["truth"].notna()]
    found = {"answered": len(rows), "labelled": len(labelled),
             "label_coverage": len(labelled) / len(rows) if len(rows) else 0.0,
             "latency_p50_ms": float(rows["latency_ms"].quantile(0.5)),
             "latency_p99_ms": float(rows["latency_ms"].quantile(0.99))}
    if "labelled_at" in labelled and len(labelled):
        delay = pd.to_datetime(labelled["labelled_at"]) - pd.to_datetime(labelled["timestamp"])
        found["label_delay_s"] = float(delay.dt.total_seconds().median())
    if len(labelled):
        found.update(_metrics(labelled))
    return found


def _metrics(labelled: pd.DataFrame) -> dict[str, float]:
    probabilities = [c for c in labelled if c.startswith("probability_")]
    if not probabilities:  # a regression
        truth, value = labelled["truth"].astype(float), labelled["prediction"].astype(float)
        return {"rmse": float(np.sqrt(metrics.mean_squared_error(truth, value))),
                "mae": float(metrics.mean_absolute_error(truth, value)),
                "r2": float(metrics.r2_score(truth, value)) if len(labelled) > 1 else np.nan}
    truth = labelled["truth"].astype(str)
    found = {"accuracy": float((labelled["prediction"].astype(str) == truth).mean())}
    if len(probabilities) == 2 and truth.nunique() == 2:
        positive = probabilities[1].removeprefix("probability_")
        found["roc_auc"] = float(metrics.roc_auc_score(truth == positive,
                                                       labelled[probabilities[1]]))
    return found
