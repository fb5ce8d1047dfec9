"""The promotion gate: thresholds, and "not worse than the champion by more than a margin",
both on metrics measured on the same held-out days.

What is compared by default depends on the task, so one gate spec fits every project: each
task has a headline metric, and losses and errors are known to be lower-is-better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assetbook.serving.target import Task
from assetbook.spec.models import GateSpec

HEADLINE: dict[Task, str] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "brier"})


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


def compared(gate: GateSpec, task: Task) -> tuple[str, bool]:
    """The metric compared with the champion's, and whether higher is better."""
    metric = gate.compare or HEADLINE[task]
    higher = (gate.higher_is_better if gate.higher_is_better is not None
              else metric not in LOWER_IS_BETTER)
    return metric, higher


def decide(candidate: dict[str, float], champion: dict[str, float] | None,
           gate: GateSpec, task: Task) -> Decision:
    rules = thresholds(candidate, gate.minimum, gate.maximum, task)
    if champion is not None:
        rules.append(_against_champion(candidate, champion, gate, task))
    return Decision(tuple(rules))


def thresholds(scores: dict[str, float], minimum: dict[str, float],
               maximum: dict[str, float], task: Task | None = None) -> list[Rule]:
    """A rule per bound: the metric at least its minimum, at most its maximum."""
    return [*(_threshold(scores, metric, low, "minimum", task) for metric, low in minimum.items()),
            *(_threshold(scores, metric, high, "maximum", task)
              for metric, high in maximum.items())]


def _threshold(scores: dict[str, float], metric: str, bound: float,
               kind: Literal["minimum", "maximum"], task: Task | None) -> Rule:
    if metric not in scores or scores[metric] != scores[metric]:  # absent, or NaN
        return _missing(metric, scores, "candidate", task)
    value = scores[metric]
    passed = value >= bound if kind == "minimum" else value <= bound
    operator = {("minimum", True): ">=", ("minimum", False): "<",
                ("maximum", True): "<=", ("maximum", False): ">"}[kind, passed]
    return Rule(f"{metric} {value:.4f} {operator} {kind} {bound}", passed)


def _against_champion(candidate: dict[str, float], champion: dict[str, float],
                      gate: GateSpec, task: Task) -> Rule:
    metric, higher = compared(gate, task)
    for model, scores in (("candidate", candidate), ("champion", champion)):
        if metric not in scores:
            return _missing(metric, scores, model, task)
    ours, theirs = candidate[metric], champion[metric]
    worse_by = (theirs - ours) if higher else (ours - theirs)
    passed = worse_by <= gate.margin
    verdict = f"better by {-worse_by:.4f}" if worse_by < 0 else "as good" if worse_by == 0 \
        else f"worse by {worse_by:.4f} ({'within' if passed else 'beyond'} the allowed " \
             f"{gate.margin})"  # the margin is how much worse a candidate may be
    return Rule(f"{metric} {ours:.4f} vs champion {theirs:.4f}: {verdict}", passed)


def _missing(metric: str, scores: dict[str, float], model: str, task: Task | None) -> Rule:
    """A failed rule, rather than a KeyError, for a gate naming a metric the report lacks."""
    if task is None:  # live metrics: a day without labels yet has none
        return Rule(f"{metric}: not measured (no labelled rows yet?)", False)
    return Rule(f"{metric}: not in the {model}'s evaluation report ({task}), which has "
                f"{', '.join(sorted(scores))}; name one of these in the gate's min, max or "
                "compare", False)
