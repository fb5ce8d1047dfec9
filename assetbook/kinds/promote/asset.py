"""Builder of `promote` assets: the champion, behind the promotion gate.

The evaluation (`assetbook/kinds/evaluate`) scored the candidate and the current champion (by
MLflow alias) on the same held-out days; this asset applies the gate, and refuses a candidate
the served API could not answer with (`assetbook/kinds/package/servable.py`). A candidate that fails
yields only a failed blocking check, so nothing is stored, nothing below runs, and the alias
stays put; `assetbook run` leaves that refusal standing until new data or code arrives
(`refusal.py`). Every decision, passed or not, is appended to `<state>/promotions.jsonl`.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.atomic import atomic_path
from assetbook.graph.context import BuildContext, input_of_kind
from assetbook.graph.outputs import versioned_output
from assetbook.graph.training import registered_name
from assetbook.kinds.package.servable import served_request
from assetbook.kinds.promote import PromoteAssetSpec
from assetbook.kinds.promote.refusal import GATE_CHECK, JUDGED_BY, judged_by
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.gate import Decision, Rule, decide
from assetbook.spec.loader import DeclaredAsset


def build_promote_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, PromoteAssetSpec)
    model_input = input_of_kind(ctx, declared, "train")
    report_input = input_of_kind(ctx, declared, "evaluate")
    name = registered_name(ctx, model_input)
    history = ctx.state.promotions
    served = served_request(ctx.project, declared.name)
    kwargs = ctx.asset_kwargs(declared, None, [])
    kwargs["check_specs"] = [*kwargs["check_specs"], dg.AssetCheckSpec(
        GATE_CHECK, asset=declared.name, blocking=True,
        description="thresholds, and not worse than the champion on the held-out days")]
    kwargs["output_required"] = False

    @dg.asset(**kwargs, kinds={"mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        report = json.loads(inputs[report_input][UNPARTITIONED].read_text())
        candidate_version = report["candidate_version"]
        decision = decide(report["candidate"], report["champion"], spec.gate,
                          report["task"])
        if decision.passed and served is not None and (
                problem := served.problem(inputs[model_input][UNPARTITIONED])):
            decision = Decision((*decision.rules, Rule(problem, passed=False)))
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "model": name,
                  "candidate": candidate_version, "champion": report["champion_version"],
                  "passed": decision.passed, "rules": [r.text for r in decision.rules],
                  "days": report["days"], "dagster_run_id": context.run.run_id}
        if decision.passed:
            record["previous"] = mlflow.promote(name, candidate_version)
        append_decision(history, record)
        if decision.passed:
            yield versioned_output(ctx, context, declared.name, {UNPARTITIONED: record}, {
                "model": name, "champion_version": candidate_version,
                "previous_version": str(record["previous"] or "none"),
                "rules": dg.MetadataValue.md("\n".join(f"- {r}" for r in record["rules"])),
                "history": dg.MetadataValue.md(_history_table(history))})
        yield dg.AssetCheckResult(
            check_name=GATE_CHECK, passed=decision.passed,
            description=("promoted: " if decision.passed else
                         f"candidate v{candidate_version} refused: ")
            + "; ".join(decision.failures or [r.text for r in decision.rules]),
            metadata={"candidate_version": candidate_version,
                      "champion_version": str(report["champion_version"] or "none"),
                      JUDGED_BY: dg.MetadataValue.json(judged_by(ctx, declared.name, served))})

    return compute


def append_decision(history: Path, record: dict[str, Any]) -> None:
    """Append one decision; the whole file is rewritten atomically, never half a line."""
    previous = history.read_text() if history.exists() else ""
    with atomic_path(history) as tmp:
        tmp.write_text(previous + json.dumps(record) + "\n")


def read_decisions(history: Path) -> list[dict[str, Any]]:
    """Every decision recorded, oldest first (gates, and rollbacks with no `previous`)."""
    if not history.exists():
        return []
    return [json.loads(line) for line in history.read_text().splitlines() if line]


def replaced_champion(history: Path, model: str, version: str) -> str | None:
    """The champion that `version` replaced when its gate last promoted it; None if it was
    the first. A rollback's record is no promotion: rolling back twice goes further back."""
    replaced = [r["previous"] for r in read_decisions(history) if r["model"] == model
                and str(r["candidate"]) == version and r["passed"] and "previous" in r]
    return None if not replaced or replaced[-1] is None else str(replaced[-1])


ROLLBACK_RULE = "rollback from"  # a rollback's record: "rollback from v4 to v3"


def last_rollback(history: Path) -> datetime | None:
    """When a champion was last rolled back (not a gate's decision: a refusal has no
    `previous` either)."""
    moments = [datetime.fromisoformat(r["at"]) for r in read_decisions(history)
               if any(rule.startswith(ROLLBACK_RULE) for rule in r.get("rules", ()))]
    return max(moments, default=None)


def _history_table(history: Path, last: int = 10) -> str:
    rows = read_decisions(history)[-last:]
    lines = ["| when | candidate | champion before | promoted | rules |", "|---|---|---|---|---|"]
    lines += [f"| {r['at']} | v{r['candidate']} | {r['champion'] or '-'} | "
              f"{'yes' if r['passed'] else 'no'} | {'; '.join(r['rules'])} |" for r in rows]
    return "\n".join(lines)
