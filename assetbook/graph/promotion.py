"""The promotion sensor of a deployment with `promote_when`: it promotes what the deployment
before it serves once that version has served there long enough, with few enough server
errors and with the named assets' checks passing since it arrived.

Each version is promoted once per arrival (the run key is the upstream server's start), so a
rollback here is not undone by the rule on the next tick. The run it requests carries the
rule's verdict as its approver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx

from assetbook.graph.context import BuildContext
from assetbook.graph.serving import APPROVED_BY_TAG
from assetbook.kinds.deploy import DeployAssetSpec, PromotionRuleSpec
from assetbook.runners.serving.deployment import Endpoint
from assetbook.runners.serving.environments import deployer, fed_by
from assetbook.runners.serving.health import server_errors
from assetbook.spec.loader import DeclaredAsset


def promotion_sensor_name(deployment: str) -> str:
    return f"{deployment}_promotion"


def build_promotion_sensor(ctx: BuildContext, declared: DeclaredAsset) -> dg.SensorDefinition:
    spec = declared.spec
    assert isinstance(spec, DeployAssetSpec) and spec.promote_when is not None
    rule, previous = spec.promote_when, fed_by(ctx.project, declared.name)
    assert previous is not None

    @dg.sensor(name=promotion_sensor_name(declared.name), asset_selection=[declared.name],
               default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=15,
               description=f"Promotes what {previous} serves to {declared.name} once "
                           f"{_rule_text(rule)}.")
    def promotion(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        serving = deployer(ctx.state, ctx.project, previous).active()
        if serving is None:
            return dg.SkipReason(f"{previous} serves nothing yet")
        here = deployer(ctx.state, ctx.project, declared.name).active()
        if here and here.bento == serving.bento:
            return dg.SkipReason(f"{declared.name} already serves v{serving.model_version}")
        unmet = unmet_conditions(context, rule, serving, datetime.now(UTC))
        if unmet:
            return dg.SkipReason(f"v{serving.model_version} waits: {'; '.join(unmet)}")
        return dg.RunRequest(
            run_key=f"{serving.bento}@{serving.started}",
            tags={APPROVED_BY_TAG: f"rule: v{serving.model_version} {_rule_text(rule)} in "
                                   f"{previous}"})

    return promotion


def unmet_conditions(context: dg.SensorEvaluationContext, rule: PromotionRuleSpec,
                     serving: Endpoint, now: datetime) -> list[str]:
    """What keeps the version `serving` from moving on, in words; empty when nothing does."""
    started = datetime.fromisoformat(serving.started)
    unmet = []
    if now - started < rule.after:
        unmet.append(f"served {_duration(now - started)} of {_duration(rule.after)}")
    try:
        errors = server_errors(serving.url)
    except httpx.HTTPError as exc:
        unmet.append(f"its server does not answer /metrics ({exc})")
    else:
        if errors > rule.max_errors:
            unmet.append(f"{errors} server errors, more than {rule.max_errors}")
    for asset in rule.checks:
        unmet += checks_unmet(context, asset, started.timestamp())
    return unmet


def checks_unmet(context: dg.SensorEvaluationContext, asset: str, since: float) -> list[str]:
    """Each check of `asset` whose latest evaluation failed or is older than `since`."""
    keys = context.repository_def.asset_graph.get_check_keys_for_assets({dg.AssetKey(asset)})
    unmet = []
    for key in sorted(keys, key=lambda k: k.name):
        record = context.instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record else None
        if record is None or record.event is None or evaluation is None or (
                record.event.timestamp < since):  # the evaluation's time, not its run's
            unmet.append(f"{asset}/{key.name} not evaluated since it was deployed")
        elif not evaluation.passed:
            unmet.append(f"{asset}/{key.name} failed")
    return unmet


def _rule_text(rule: PromotionRuleSpec) -> str:
    text = f"served {_duration(rule.after)} with at most {rule.max_errors} server errors"
    return text + (f" and {', '.join(rule.checks)} passing" if rule.checks else "")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
