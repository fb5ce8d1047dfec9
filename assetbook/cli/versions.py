"""`assetbook lineage`, `history` and `gc`: what a model version was made of; every version's
held-out metrics, window, gate decision and commit side by side (DVC's "metrics across
commits"); and reclaiming the kept data versions nothing needs (see `retention.py`).

Both only read: the MLflow registry and the manifests the train and evaluate assets logged
(`graph/lineage.py`), the gate's decisions, and the store's kept versions.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from assetbook.atomic import atomic_path
from assetbook.cli.plots import pyplot
from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.lineage import COMMIT_TAG, EVALUATION, LINEAGE_FOLDER, MANIFEST
from assetbook.graph.retention import collect
from assetbook.graph.training import chosen_model
from assetbook.kinds.promote.asset import read_decisions
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.gate import HEADLINE


@dataclass(frozen=True)
class HistoryRow:
    version: str
    created: str
    window: str
    metrics: dict[str, float]  # held-out metrics of the candidate
    gate: str                  # promoted, refused, or not judged
    commit: str
    aliases: tuple[str, ...]


def lineage(session: Session, version: str, model: str | None) -> dict[str, Any]:
    """The manifest of a model version, with each data version checked against the store
    (`stored`: its bytes are kept) and the evaluation's held-out days and metrics."""
    registry, name = _registry(session, model)
    info = _version(registry, name, version)
    manifest = registry.read_json(info.run_id, f"{LINEAGE_FOLDER}/{MANIFEST}")
    if manifest is None:
        raise AssetbookError(f"{name} v{info.version} has no lineage manifest: it was trained "
                             "before Assetbook recorded data versions")
    evaluation = registry.read_json(info.run_id, f"{LINEAGE_FOLDER}/{EVALUATION}") or {}
    io = ArtifactIOManager(root=str(session.state.artifacts))
    return {"model": name, "version": str(info.version), "aliases": list(info.aliases),
            "mlflow_run_id": info.run_id, **manifest,
            "reads": _resolved(io, manifest["data"]),
            "held_out": _resolved(io, evaluation.get("data", {})),
            "held_out_metrics": evaluation.get("candidate") or {}}


def render_lineage(found: dict[str, Any]) -> str:
    aliases = f" ({', '.join(found['aliases'])})" if found["aliases"] else ""
    commit = found.get("commit") or "unknown (not a git repository)"
    lines = [f"{found['model']} v{found['version']}{aliases}, trained {found['at']}",
             f"  commit        {commit}{' with uncommitted changes' if found['dirty'] else ''}",
             f"  data version  {found['data_version']}",
             f"  MLflow run    {found['mlflow_run_id']}", "", "read for training:"]
    lines += _version_table(found["reads"])
    if found["held_out"]:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in found["held_out_metrics"].items())
        lines += ["", f"held out for the evaluation ({metrics}):", *_version_table(
            found["held_out"])]
    lines += ["", "code versions:"]
    width = max(map(len, found["code_versions"]), default=0)
    lines += [f"  {asset:<{width}}  {version}" for asset, version in
              found["code_versions"].items()]
    return "\n".join(lines)


def history(session: Session, model: str | None) -> list[HistoryRow]:
    """One row per version of the registered model, oldest first."""
    registry, name = _registry(session, model)
    client = registry.client()
    decisions = _decisions(session.state.promotions, name)
    # the registered model holds the aliases: a search's versions come back without theirs
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for info in sorted(client.search_model_versions(f"name='{name}'"),
                       key=lambda v: int(v.version)):
        run = client.get_run(info.run_id)
        window = info.tags.get("window", "").split(",")
        rows.append(HistoryRow(
            version=str(info.version),
            created=datetime.fromtimestamp(info.creation_timestamp / 1000, UTC).isoformat(
                timespec="seconds"),
            window=f"{window[0]}..{window[-1]}" if window[0] else "",
            metrics={k.removeprefix("heldout_"): v for k, v in run.data.metrics.items()
                     if k.startswith("heldout_")},
            gate=decisions.get(str(info.version), "not judged"),
            commit=(info.tags.get(COMMIT_TAG) or "unknown")[:12],
            aliases=tuple(sorted(aliases.get(str(info.version), [])))))
    return rows


def metric_names(rows: list[HistoryRow]) -> list[str]:
    """The held-out metrics of the rows: a task's headline first, then the others; the
    count of held-out rows, which is not a score, last."""
    names = {k for row in rows for k in row.metrics}
    first = [m for m in HEADLINE.values() if m in names]
    return [*first, *sorted(names - {*first, "rows"}), *(["rows"] if "rows" in names else [])]


def render_history(rows: list[HistoryRow]) -> str:
    names = metric_names(rows)
    header = ["version", "created", "window", *names, "gate", "commit", "aliases"]
    table = [[f"v{r.version}", r.created, r.window,
              *(_metric(r.metrics, n) for n in names),
              r.gate, r.commit, ", ".join(r.aliases)] for r in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *table,
                                                                            strict=True)]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths,
                                                                       strict=True)).rstrip()
                     for line in [header, *table])


def _metric(metrics: dict[str, float], name: str) -> str:
    return metric_text(metrics.get(name), name, 4)


def metric_text(value: float | None, name: str, places: int) -> str:
    """A held-out metric to `places` decimals; the held-out row count as a count."""
    if value is None:
        return "-"
    return f"{value:.0f}" if name == "rows" else f"{value:.{places}f}"


def history_json(rows: list[HistoryRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2)


def plot_history(rows: list[HistoryRow], path: Path) -> Path:
    """Each held-out metric across versions; promoted versions drawn filled."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator  # matplotlib: as the plot is drawn

    names = [name for name in metric_names(rows) if name != "rows"]
    figure, axes = plt.subplots(len(names) or 1, 1, figsize=(7, 2.2 * max(len(names), 1)),
                                squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=False):
        shown = [r for r in rows if name in r.metrics]
        axis.plot([int(r.version) for r in shown], [r.metrics[name] for r in shown],
                  color="tab:blue")
        for row in shown:
            axis.scatter(int(row.version), row.metrics[name], color="tab:blue",
                         facecolors="tab:blue" if row.gate == "promoted" else "white", zorder=3)
        axis.set_ylabel(name)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # no version 1.5
    axes[-1, 0].set_xlabel("model version (filled: promoted)")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path


def _registry(session: Session, model: str | None) -> tuple[MlflowTracking, str]:
    name = chosen_model(BuildContext(session.project, session.state), model, "--model")
    return MlflowTracking.local(session.state.root, session.state.profile.mlflow), name


def _version(registry: MlflowTracking, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        if version.removeprefix("v").isdigit():
            return registry.version_info(name, version.removeprefix("v"))
        return registry.client().get_model_version_by_alias(name, version)
    except MlflowException as exc:
        raise AssetbookError(f"{name} has no version or alias '{version}'") from exc


def _resolved(io: ArtifactIOManager, data: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [{"asset": asset, "partition": key, "version": version,
             "stored": version in io.versions(dg.AssetKey(asset), key)}
            for asset, by_key in data.items() for key, version in sorted(by_key.items())]


def _version_table(rows: list[dict[str, Any]]) -> list[str]:
    return [f"  {r['asset']}  {r['partition']}  {r['version']}  "
            f"{'kept' if r['stored'] else 'MISSING from the store'}" for r in rows]


def _decisions(promotions: Path, name: str) -> dict[str, str]:
    """The gate's last word on each candidate version."""
    return {str(r["candidate"]): "promoted" if r["passed"] else "refused"
            for r in read_decisions(promotions)
            if r.get("model") == name and "candidate" in r and "passed" in r}


def run_versions_command(session: Session, args: argparse.Namespace, say: Any) -> int:
    if args.command == "gc":
        if args.keep < 0:
            raise AssetbookError(f"--keep {args.keep}: give 0 or more")
        reclaimed = collect(session.project, session.state, MlflowTracking.local(
            session.state.root, session.state.profile.mlflow), args.keep, args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        say("\n".join([*(f"  {name}" for name in reclaimed.removed),
                       f"{verb} {len(reclaimed.removed)} version(s), "
                       f"{reclaimed.bytes_freed / 1e6:.1f} MB; kept {reclaimed.kept}"]))
        return 0
    if args.command == "lineage":
        found = lineage(session, args.version, args.model)
        say(json.dumps(found, indent=2) if args.json else render_lineage(found))
        return 0
    rows = history(session, args.model)
    if not rows:
        raise AssetbookError("no model version yet: run the pipeline first")
    if args.json:
        say(history_json(rows))
        return 0
    plot = plot_history(rows, args.plot or session.state.root / "history.png")
    say(render_history(rows) + f"\n\nplot: {plot}")
    return 0
