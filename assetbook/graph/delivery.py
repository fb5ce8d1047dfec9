"""Builders of the evaluation report and the champion (the promotion gate).

The evaluation scores the candidate and the current champion (by MLflow alias) on the same
held-out days; the champion asset applies the gate. A candidate that fails yields only a
failed blocking check, so nothing is stored, nothing below runs, and the alias stays put.
Every decision, passed or not, is appended to `<state>/promotions.jsonl`.
"""

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.atomic import atomic_path
from assetbook.graph.context import BuildContext
from assetbook.resources.state import UNPARTITIONED
from assetbook.resources.tracking import CHAMPION, MlflowTracking
from assetbook.runners.gate import decide
from assetbook.runners.notebook import NotebookRunner
from assetbook.spec import DeclaredAsset
from assetbook.spec.models import EvaluateAssetSpec, PromoteAssetSpec, TrainAssetSpec

GATE_CHECK = "gate"


def registered_name(ctx: BuildContext, train_asset: str) -> str:
    declared = ctx.project.assets[train_asset]
    assert isinstance(declared.spec, TrainAssetSpec)
    return declared.spec.register_as or declared.pipeline


def _input_of_kind(ctx: BuildContext, declared: DeclaredAsset, kind: str) -> str:
    return next(n for n in declared.spec.inputs if ctx.project.assets[n].spec.kind == kind)


def latest_metadata(context: AssetExecutionContext, asset: str) -> dict[str, Any]:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event and event.asset_materialization, f"{asset} has never been materialized"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def build_evaluate_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, EvaluateAssetSpec)
    model_input = _input_of_kind(ctx, declared, "train")
    (data_input,) = [n for n in spec.inputs if n != model_input]
    name = registered_name(ctx, model_input)
    notebook = ctx.project.root / spec.notebook
    runner = NotebookRunner()

    @dg.asset(**ctx.asset_kwargs(declared, notebook, []), kinds={"jupyter", "mlflow"})
    def compute(context: AssetExecutionContext, mlflow: MlflowTracking,
                **inputs: dict[str, Path]):
        days = ctx.inputs_by_partition(declared, [UNPARTITIONED], inputs,
                                       context.instance)[UNPARTITIONED][data_input]
        candidate = latest_metadata(context, model_input)
        champion_version = mlflow.alias_version(name, CHAMPION)
        output = ctx.staging_path(declared.name, context.run.run_id, UNPARTITIONED, ".json")
        with tempfile.TemporaryDirectory() as scratch:
            champion = (str(mlflow.download(name, champion_version, Path(scratch)))
                        if champion_version else None)
            result = runner.run(notebook, {
                "candidate": str(inputs[model_input][UNPARTITIONED]),
                "candidate_version": str(candidate["model_version"]),
                "champion": champion, "champion_version": champion_version,
                "days": [{"key": p.stem, "path": str(p)} for p in days],
                "output": str(output), "config": spec.config,
            }, ctx.state.report_path(declared.name, f"v{candidate['model_version']}", ".ipynb"),
                ctx.project.root, f"asset '{declared.name}'")
        report = json.loads(output.read_text())
        mlflow.log(str(candidate["mlflow_run_id"]), metrics={
            f"heldout_{k}": v for k, v in report["candidate"].items()})
        champion_metrics = report["champion"] or {}
        yield dg.Output({UNPARTITIONED: output}, metadata={
            **{f"candidate_{k}": v for k, v in report["candidate"].items()},
            **{f"champion_{k}": v for k, v in champion_metrics.items()},
            "held_out_days": ", ".join(report["days"]),
            "candidate_version": str(candidate["model_version"]),
            "champion_version": str(champion_version or "none"),
            "notebook": dg.MetadataValue.notebook(str(result.executed)),
            "report": dg.MetadataValue.path(str(result.html)),
        })

    return compute


def build_promote_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, PromoteAssetSpec)
    model_input = _input_of_kind(ctx, declared, "train")
    report_input = _input_of_kind(ctx, declared, "evaluate")
    name = registered_name(ctx, model_input)
    history = ctx.state.promotions
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
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "model": name,
                  "candidate": candidate_version, "champion": report["champion_version"],
                  "passed": decision.passed, "rules": [r.text for r in decision.rules],
                  "days": report["days"], "dagster_run_id": context.run.run_id}
        if decision.passed:
            record["previous"] = mlflow.promote(name, candidate_version)
        append_decision(history, record)
        if decision.passed:
            yield dg.Output({UNPARTITIONED: record}, metadata={
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
                      "champion_version": str(report["champion_version"] or "none")})

    return compute


def append_decision(history: Path, record: dict[str, Any]) -> None:
    """Append one decision; the whole file is rewritten atomically, never half a line."""
    previous = history.read_text() if history.exists() else ""
    with atomic_path(history) as tmp:
        tmp.write_text(previous + json.dumps(record) + "\n")


def _history_table(history: Path, last: int = 10) -> str:
    rows = [json.loads(line) for line in history.read_text().splitlines()][-last:]
    lines = ["| when | candidate | champion before | promoted | rules |", "|---|---|---|---|---|"]
    lines += [f"| {r['at']} | v{r['candidate']} | {r['champion'] or '-'} | "
              f"{'yes' if r['passed'] else 'no'} | {'; '.join(r['rules'])} |" for r in rows]
    return "\n".join(lines)
