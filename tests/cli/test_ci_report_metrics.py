"""The CI report's metrics section follows the report's task: its metrics, headline first,
and the two plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetbook.cli.ci_report import _metrics_section

PNG = b"\x89PNG\r\n\x1a\n"


def report(task: str, candidate: dict[str, float], champion: dict[str, float] | None,
           headline: str) -> dict[str, Any]:
    return {"task": task, "days": ["day-1", "day-2"], "candidate_version": "2",
            "champion_version": "1" if champion else None,
            "candidate": {**candidate, "rows": 100},
            "champion": {**champion, "rows": 100} if champion else None,
            "per_day": {"candidate": {"day-1": {headline: 1.0}, "day-2": {}}}}


def section(tmp_path: Path, report: dict[str, Any]) -> list[str]:
    (tmp_path / "plots").mkdir()  # write_report makes it
    return _metrics_section(report, tmp_path / "plots", tmp_path)


def test_a_regression_report_shows_its_own_metrics_rmse_first(tmp_path: Path) -> None:
    lines = section(tmp_path, report("regression", {"r2": 0.5, "mae": 8.0, "rmse": 10.0},
                                     {"r2": 0.4, "mae": 9.0, "rmse": 11.0}, "rmse"))
    assert lines[2] == ("A regression model, on the held-out days day-1, day-2 (neither model "
                        "trained on them).")
    assert lines[6:9] == ["| rmse | 11.0000 | 10.0000 | -1.0000 |",
                          "| r2 | 0.4000 | 0.5000 | +0.1000 |",
                          "| mae | 9.0000 | 8.0000 | -1.0000 |"]
    assert "rows" not in "\n".join(lines)
    assert lines[-3:-1] == ["![metrics](plots/metrics.png)",
                            "![rmse_per_day](plots/rmse_per_day.png)"]
    for plot in ("metrics.png", "rmse_per_day.png"):
        assert (tmp_path / "plots" / plot).read_bytes().startswith(PNG)


def test_a_first_multiclass_candidate_has_no_deltas(tmp_path: Path) -> None:
    lines = section(tmp_path, report("multiclass", {"accuracy": 0.9, "f1_macro": 0.8}, None,
                                     "f1_macro"))
    assert lines[6:8] == ["| f1_macro | n/a | 0.8000 | n/a |",
                          "| accuracy | n/a | 0.9000 | n/a |"]
    assert (tmp_path / "plots" / "f1_macro_per_day.png").read_bytes().startswith(PNG)
