"""The `served` source: a day of what the served model recorded, read back from BentoML's
monitoring log (the records written by the real monitor, in a process of their own as in a
server); only daily partitions make sense for it, and others are refused by name. Sensor
readings of a user's own, not the loans example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assetbook.data.served import served_day
from assetbook.errors import SpecError
from assetbook.serving.recording import MONITOR, MONITORING_ENV
from tests.conftest import build_defs, write_spec

RECORD = """
from assetbook.serving.recording import record_rows
rows = [{"pump": "p1", "pressure": 1.5}, {"pump": "p2", "pressure": 2.5}]
answers = [{"label": "ok", "probabilities": {"ok": 0.9, "stalled": 0.1}, "model_version": "3"},
           {"label": "stalled", "probabilities": {"ok": 0.2, "stalled": 0.8},
            "model_version": "3"}]
record_rows(rows, answers, 0.004)
"""


def test_a_day_reads_back_what_the_server_recorded_that_day(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", RECORD], check=True, timeout=120,
                   env={**os.environ, MONITORING_ENV: str(tmp_path)})
    (log,) = (tmp_path / MONITOR / "data").glob("data.*.log")
    today = log.read_text().split('"timestamp": "')[1][:10]
    # a rotated file of an earlier day beside it, as BentoML's daily rotation leaves it
    (log.parent / f"{log.name}.2024-05-01").write_text(
        log.read_text().replace(f'"timestamp": "{today}', '"timestamp": "2024-05-01'))

    day = served_day(tmp_path, today)

    assert day["pump"].tolist() == ["p1", "p2"]
    assert day["prediction"].tolist() == ["ok", "stalled"]
    assert day["probability_stalled"].tolist() == [0.1, 0.8]
    assert set(day["model_version"]) == {"3"} and set(day["latency_ms"]) == {4.0}
    assert day["request_id"].nunique() == 1 and "trace_id" not in day
    assert len(served_day(tmp_path, "2024-05-01")) == 2
    assert served_day(tmp_path, "2024-05-02").empty


def test_a_served_source_with_other_than_daily_partitions_is_refused(project_dir: Path) -> None:
    write_spec(project_dir, """
pipeline: pumps
partitions:
  days: {type: dynamic}
assets:
  answered:
    kind: source
    partitions: days
    source: {type: served}
""")
    with pytest.raises(SpecError, match="asset 'answered', field 'partitions': a `served` "
                                        "source is partitioned by day"):
        build_defs(project_dir)
