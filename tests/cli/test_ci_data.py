"""The CI report's header names the data the candidate was scored on: a sample that `assetbook
ci` simulated, or the project's own landed files (it used to print the sample's size always)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assetbook.cli.ci import Sample, ScoredData, scored_data
from assetbook.cli.ci_report import describe_data
from assetbook.cli.session import Session

SAMPLE = Sample(days=2, rows=40)


def test_without_landed_files_the_sample_is_simulated_and_named_so(project_dir: Path) -> None:
    session = Session(project_dir)
    data = scored_data(session, SAMPLE)
    assert (data.keys, data.rows, data.simulated) == (("2024-01-01", "2024-01-02"), 80, True)
    assert describe_data(data, SAMPLE, project_dir) == (
        "a simulated sample (`--days 2 --rows 40`): 2 days of `raw_applications`, 2024-01-01 "
        "to 2024-01-02, 80 rows")
    assert scored_data(session, SAMPLE) == data  # landed once, then read


def test_the_projects_own_landed_files_are_named_with_their_folder(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("      type: landing\n",
                                             "      type: landing\n      folder: landed\n"))
    session = Session(project_dir)
    (project_dir / "landed").mkdir()
    days = {"2024-03-01": 30, "2024-03-02": 31, "2024-03-04": 32}
    for day, rows in days.items():
        frame = pd.DataFrame({"salary": range(rows)})
        frame.to_csv(project_dir / "landed" / f"{day}.csv", index=False)
    data = scored_data(session, SAMPLE)
    assert not data.simulated and data.rows == 93
    assert describe_data(data, SAMPLE, project_dir) == (
        "the project's landed files in `landed`: 3 days of `raw_applications`, 2024-03-01 to "
        "2024-03-04, 93 rows")


def test_one_day_and_no_data_read_as_such(tmp_path: Path) -> None:
    one = ScoredData("raw", ("2024-01-05",), 12, tmp_path / "elsewhere", simulated=False)
    assert describe_data(one, SAMPLE, tmp_path / "project") == (
        f"the project's landed files in `{tmp_path / 'elsewhere'}`: 1 day of `raw`, "
        "2024-01-05, 12 rows")
    assert describe_data(None, SAMPLE, tmp_path) == "no data: it stopped before (see Failures)"
