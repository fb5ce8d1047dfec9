"""The promotion gate's rules and the text it gives for each."""

from __future__ import annotations

from assetbook.runners.gate import decide
from assetbook.spec.models import GateSpec

GATE = GateSpec(min={"accuracy": 0.8}, max={"log_loss": 0.5}, compare="roc_auc", margin=0.01)
GOOD = {"accuracy": 0.9, "log_loss": 0.3, "roc_auc": 0.93}


def test_first_candidate_needs_only_the_thresholds() -> None:
    decision = decide(GOOD, None, GATE)
    assert decision.passed
    assert [r.text for r in decision.rules] == [
        "accuracy 0.9000 >= minimum 0.8", "log_loss 0.3000 <= maximum 0.5"]


def test_within_the_margin_of_the_champion_passes() -> None:
    decision = decide(GOOD, {**GOOD, "roc_auc": 0.935}, GATE)
    assert decision.passed
    assert decision.rules[-1].text == ("roc_auc 0.9300 vs champion 0.9350: worse by 0.0050 "
                                       "(within margin 0.01)")


def test_each_failing_rule_is_named_with_both_numbers() -> None:
    candidate = {"accuracy": 0.7, "log_loss": 0.6, "roc_auc": 0.85}
    decision = decide(candidate, {**GOOD, "roc_auc": 0.93}, GATE)
    assert not decision.passed
    assert decision.failures == [
        "accuracy 0.7000 < minimum 0.8",
        "log_loss 0.6000 > maximum 0.5",
        "roc_auc 0.8500 vs champion 0.9300: worse by 0.0800 (beyond margin 0.01)",
    ]


def test_lower_is_better_comparison() -> None:
    gate = GateSpec(compare="log_loss", higher_is_better=False, margin=0.0)
    assert decide({"log_loss": 0.30}, {"log_loss": 0.31}, gate).passed
    assert not decide({"log_loss": 0.32}, {"log_loss": 0.31}, gate).passed
