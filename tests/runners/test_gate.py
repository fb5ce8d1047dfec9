"""The promotion gate's rules, the text it gives for each, and what it compares per task."""

from __future__ import annotations

import pytest

from assetbook.runners.gate import decide
from assetbook.serving.target import Task
from assetbook.spec.models import GateSpec

GATE = GateSpec(min={"accuracy": 0.8}, max={"log_loss": 0.5}, compare="roc_auc", margin=0.01)
GOOD = {"accuracy": 0.9, "log_loss": 0.3, "roc_auc": 0.93, "rows": 500}


def test_first_candidate_needs_only_the_thresholds() -> None:
    decision = decide(GOOD, None, GATE, "binary")
    assert decision.passed
    assert [r.text for r in decision.rules] == [
        "accuracy 0.9000 >= minimum 0.8", "log_loss 0.3000 <= maximum 0.5"]


def test_within_the_margin_of_the_champion_passes() -> None:
    decision = decide(GOOD, {**GOOD, "roc_auc": 0.935}, GATE, "binary")
    assert decision.passed
    assert decision.rules[-1].text == ("roc_auc 0.9300 vs champion 0.9350: worse by 0.0050 "
                                       "(within the allowed 0.01)")


def test_each_failing_rule_is_named_with_both_numbers() -> None:
    candidate = {"accuracy": 0.7, "log_loss": 0.6, "roc_auc": 0.85}
    decision = decide(candidate, {**GOOD, "roc_auc": 0.93}, GATE, "binary")
    assert not decision.passed
    assert decision.failures == [
        "accuracy 0.7000 < minimum 0.8",
        "log_loss 0.6000 > maximum 0.5",
        "roc_auc 0.8500 vs champion 0.9300: worse by 0.0800 (beyond the allowed 0.01)",
    ]


def test_an_explicit_direction_wins() -> None:
    gate = GateSpec(compare="log_loss", higher_is_better=True)
    assert decide({"log_loss": 0.30}, {"log_loss": 0.31}, gate, "binary").failures == [
        "log_loss 0.3000 vs champion 0.3100: worse by 0.0100 (beyond the allowed 0.0)"]


@pytest.mark.parametrize(("task", "metric", "champion", "better", "worse"), [
    ("binary", "roc_auc", 0.90, 0.91, 0.89),
    ("multiclass", "f1_macro", 0.80, 0.81, 0.79),
    ("regression", "rmse", 12.0, 11.0, 13.0),  # an error: lower is better
])
def test_by_default_the_task_headline_metric_is_compared(
    task: Task, metric: str, champion: float, better: float, worse: float
) -> None:
    gate = GateSpec()
    assert decide({metric: better}, {metric: champion}, gate, task).passed
    assert decide({metric: worse}, {metric: champion}, gate, task).failures == [
        f"{metric} {worse:.4f} vs champion {champion:.4f}: worse by {abs(worse - champion):.4f}"
        " (beyond the allowed 0.0)"]


@pytest.mark.parametrize("metric", ["mae", "log_loss", "brier"])
def test_losses_and_errors_are_lower_is_better(metric: str) -> None:
    gate = GateSpec(compare=metric)
    assert decide({metric: 0.30}, {metric: 0.31}, gate, "multiclass").passed
    assert not decide({metric: 0.32}, {metric: 0.31}, gate, "multiclass").passed


def test_a_rule_on_a_metric_the_report_lacks_fails_and_lists_the_metrics() -> None:
    regression = {"rmse": 10.0, "mae": 8.0, "r2": 0.5, "rows": 200}
    gate = GateSpec(min={"accuracy": 0.8}, max={"rmse": 12.0})
    decision = decide(regression, {**regression, "rmse": 11.0}, gate, "regression")
    assert [(r.text, r.passed) for r in decision.rules] == [
        ("accuracy: not in the candidate's evaluation report (regression), which has mae, r2, "
         "rmse, rows; name one of these in the gate's min, max or compare", False),
        ("rmse 10.0000 <= maximum 12.0", True),
        ("rmse 10.0000 vs champion 11.0000: better by 1.0000", True)]


def test_a_champion_without_the_compared_metric_fails_the_rule() -> None:
    decision = decide({"f1_macro": 0.8, "roc_auc_ovr": 0.9}, {"f1_macro": 0.7},
                      GateSpec(compare="roc_auc_ovr"), "multiclass")
    assert decision.failures == [
        "roc_auc_ovr: not in the champion's evaluation report (multiclass), which has "
        "f1_macro; name one of these in the gate's min, max or compare"]
