"""The Markdown report of `assetbook ci`: verdict, what was recomputed, candidate against
champion with deltas, the gate's rules, the data checks, and PNG plots beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import matplotlib

matplotlib.use("Agg")  # files only: CI machines have no display
import matplotlib.pyplot as plt  # noqa: E402

from assetbook.cli.ci import CiOutcome, Sample  # noqa: E402
from assetbook.cli.session import Session  # noqa: E402

METRICS = ("accuracy", "roc_auc", "average_precision", "f1", "log_loss", "brier")


def write_report(path: Path, outcome: CiOutcome, session: Session, sample: Sample) -> Path:
    """Write `path` and its plots (in `<stem>_plots/`); returns the report's path."""
    plots = path.parent / f"{path.stem}_plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Assetbook CI report", "",
        f"**{_verdict(outcome)}**", "",
        f"Base: {outcome.base} · sample: {sample.days} days × {sample.rows} rows", "",
        "## Recomputed assets", "",
        ", ".join(f"`{name}`" for name in outcome.recomputed)
        or "Nothing is stale: this change does not touch the pipeline.", "",
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
    head = (f"| metric | champion (v{report.get('champion_version')}) | candidate "
            f"(v{report.get('candidate_version')}) | delta |")
    rows = [head, "|---|---:|---:|---:|"]
    for metric in METRICS:
        ours = candidate[metric]
        theirs = champion[metric] if champion else None
        delta = f"{ours - theirs:+.4f}" if theirs is not None else "n/a"
        rows.append(f"| {metric} | {_number(theirs)} | {ours:.4f} | {delta} |")
    images = [_bar_plot(candidate, champion, plots / "metrics.png"),
              _per_day_plot(report["per_day"], plots / "accuracy_per_day.png")]
    return ["## Candidate against champion", "",
            f"On the held-out days {', '.join(report['days'])} (neither model trained on them).",
            "", *rows, "",
            *(f"![{image.stem}]({image.relative_to(base)})" for image in images), ""]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _bar_plot(candidate: dict[str, float], champion: dict[str, float] | None,
              path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.4
    positions = range(len(METRICS))
    models = {"candidate": candidate, **({"champion": champion} if champion else {})}
    for offset, (name, values) in enumerate(models.items()):
        ax.bar([p + offset * width for p in positions], [values[m] for m in METRICS],
               width, label=name)
    ax.set_xticks([p + width / 2 for p in positions], METRICS)
    return _save(fig, ax, "Metrics on the held-out days (log_loss and brier: lower is better)",
                 path)


def _per_day_plot(per_day: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, days in per_day.items():
        ax.plot(list(days), [m["accuracy"] for m in days.values()], marker="o", label=name)
    return _save(fig, ax, "Accuracy per held-out day", path)


def _save(fig: Any, ax: Any, title: str, path: Path) -> Path:
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
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
