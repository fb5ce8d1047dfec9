"""The promotion gate: thresholds, and "not worse than the champion by more than a margin",
both on metrics measured on the same held-out days."""

from __future__ import annotations

from dataclasses import dataclass

from assetbook.spec.models import GateSpec


@dataclass(frozen=True)
class Rule:
    text: str  # e.g. "roc_auc 0.912 >= minimum 0.85"
    passed: bool


@dataclass(frozen=True)
class Decision:
    rules: tuple[Rule, ...]

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    @property
    def failures(self) -> list[str]:
        return [rule.text for rule in self.rules if not rule.passed]


def decide(candidate: dict[str, float], champion: dict[str, float] | None,
           gate: GateSpec) -> Decision:
    rules: list[Rule] = []
    for metric, low in gate.minimum.items():
        value = candidate[metric]
        rules.append(Rule(f"{metric} {value:.4f} {'>=' if value >= low else '<'} minimum "
                          f"{low}", value >= low))
    for metric, high in gate.maximum.items():
        value = candidate[metric]
        rules.append(Rule(f"{metric} {value:.4f} {'<=' if value <= high else '>'} maximum "
                          f"{high}", value <= high))
    if champion is not None:
        ours, theirs = candidate[gate.compare], champion[gate.compare]
        worse_by = (theirs - ours) if gate.higher_is_better else (ours - theirs)
        passed = worse_by <= gate.margin
        rules.append(Rule(
            f"{gate.compare} {ours:.4f} vs champion {theirs:.4f}: "
            + ("not worse" if worse_by <= 0 else f"worse by {worse_by:.4f}")
            + f" ({'within' if passed else 'beyond'} margin {gate.margin})", passed))
    return Decision(tuple(rules))
