"""The Markdown report of `assetbook ci`: verdict, what was recomputed, candidate against
champion with deltas, the gate's rules, the data checks, and PNG plots beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from assetbook.cli.ci import CiOutcome, Sample, ScoredData
from assetbook.cli.plots import pyplot
from assetbook.cli.session import Session
from assetbook.runners.gate import HEADLINE, LOWER_IS_BETTER


def write_report(path: Path, outcome: CiOutcome, session: Session, sample: Sample) -> Path:
    """Write `path` and its plots (in `<stem>_plots/`); returns the report's path."""
    plots = path.parent / f"{path.stem}_plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Assetbook CI report", "",
        f"**{_verdict(outcome)}**", "",
        f"Base: {outcome.base} · scored on {describe_data(outcome.data, sample, session.root)}",
        "",
        "## Recomputed assets", "",
        ", ".join(f"`{name}`" for name in outcome.recomputed) or _nothing_stale(outcome), "",
    ]
    if outcome.report is not None:
        lines += _metrics_section(outcome.report, plots, path.parent)
    if outcome.decision is not None:
        lines += ["## Gate", "", *(f"- {'✅' if r.passed else '❌'} {r.text}"
                                   for r in outcome.decision.rules), ""]
    lines += _checks_section(session)
    if outcome.failures:
        lines += ["## Failures", "", *(f"```\n{f}\n```" for f in outcome.failures), ""]
    path.write_text("\n".join(lines))
    return path


def describe_data(data: ScoredData | None, sample: Sample, root: Path) -> str:
    """Which days the candidate was scored on, so that no one reads a simulated sample's
    metrics as the project's own (or the other way around)."""
    if data is None:
        return "no data: it stopped before (see Failures)"
    span = data.keys[0] if len(data.keys) == 1 else f"{data.keys[0]} to {data.keys[-1]}"
    days = (f"{len(data.keys)} day{'s' * (len(data.keys) > 1)} of `{data.source}`, {span}, "
            f"{data.rows:,} rows")
    if data.simulated:
        return f"a simulated sample (`--days {sample.days} --rows {sample.rows}`): {days}"
    folder = data.folder.relative_to(root) if data.folder.is_relative_to(root) else data.folder
    return f"the project's landed files in `{folder}`: {days}"


def _nothing_stale(outcome: CiOutcome) -> str:
    if outcome.failures and outcome.data is None:
        return "None: it stopped before (see Failures)."
    if outcome.decision is not None:
        return ("Nothing is stale: an earlier `assetbook ci` of the same code made this "
                "candidate, judged again below.")
    return "Nothing is stale: this change does not touch the pipeline."


def _verdict(outcome: CiOutcome) -> str:
    if outcome.failures:
        return "FAIL: the pipeline did not run through (see Failures)"
    if outcome.decision is None:
        return "PASS: no new candidate to judge; the champion stands"
    if outcome.decision.passed:
        return "PASS: the candidate passes the gate and would be promoted"
    return "FAIL: the gate refuses the candidate: " + "; ".join(outcome.decision.failures)


def _metrics_section(report: dict[str, Any], plots: Path, base: Path) -> list[str]:
    candidate, champion = report["candidate"], report.get("champion")
    names = _metric_names(report)
    head = (f"| metric | champion (v{report.get('champion_version')}) | candidate "
            f"(v{report.get('candidate_version')}) | delta |")
    rows = [head, "|---|---:|---:|---:|"]
    for metric in names:
        ours = candidate[metric]
        theirs = champion.get(metric) if champion else None
        delta = f"{ours - theirs:+.4f}" if theirs is not None else "n/a"
        rows.append(f"| {metric} | {_number(theirs)} | {ours:.4f} | {delta} |")
    headline = names[0]
    images = [_bar_plot(names, candidate, champion, plots / "metrics.png"),
              _per_day_plot(headline, report["per_day"], plots / f"{headline}_per_day.png")]
    return ["## Candidate against champion", "",
            f"A {report['task']} model, on the held-out days {', '.join(report['days'])} "
            "(neither model trained on them).",
            "", *rows, "",
            *(f"![{image.stem}]({image.relative_to(base)})" for image in images), ""]


def _metric_names(report: dict[str, Any]) -> list[str]:
    """The candidate's metrics as the evaluation notebook wrote them, the task's headline
    first; `rows` is a count, not a metric."""
    headline = HEADLINE[report["task"]]
    names = [m for m in report["candidate"] if m != "rows"]
    return sorted(names, key=lambda m: m != headline)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _bar_plot(names: list[str], candidate: dict[str, float],
              champion: dict[str, float] | None, path: Path) -> Path:
    """One panel per metric: their scales differ (rmse against r2)."""
    fig, axes = pyplot().subplots(1, len(names), figsize=(1.8 * len(names) + 1, 3.5),
                                  squeeze=False)
    models = {"candidate": candidate, **({"champion": champion} if champion else {})}
    for ax, metric in zip(axes[0], names, strict=True):
        ax.bar(list(models), [v.get(metric, float("nan")) for v in models.values()],
               color=[f"C{i}" for i in range(len(models))])
        ax.set_title(metric + ("\n(lower is better)" if metric in LOWER_IS_BETTER else ""),
                     fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Metrics on the held-out days")
    return _save(fig, path)


def _per_day_plot(metric: str, per_day: dict[str, dict[str, dict[str, float]]],
                  path: Path) -> Path:
    fig, ax = pyplot().subplots(figsize=(8, 4))
    for name, days in per_day.items():  # a day that cannot define the metric is a gap
        ax.plot(list(days), [m.get(metric, float("nan")) for m in days.values()], marker="o",
                label=name)
    ax.set_title(f"{metric} per held-out day")
    ax.legend()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path


def _checks_section(session: Session) -> list[str]:
    """The latest result of every data check (schemas, drift); the gate has its section."""
    graph = session.defs.resolve_asset_graph()
    keys = [k for k in graph.asset_check_keys
            if session.project.assets[k.asset_key.to_user_string()].spec.kind != "promote"]
    records = session.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    rows = ["| asset | check | result | detail |", "|---|---|---|---|"]
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        record = records.get(key)
        evaluation = record.event.dagster_event.event_specific_data if (
            record and record.event and record.event.dagster_event) else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        detail = (evaluation.description or "").replace("|", "\\|")[:300]
        rows.append(f"| {key.asset_key.to_user_string()} | {key.name} | "
                    f"{'passed' if evaluation.passed else 'FAILED'} | {detail} |")
    return ["## Data checks", "", *rows, ""]
