"""`assetbook init`: the files of both scaffolds, their git repository, where the templates
come from, and what `--data` infers (the task, the schema code, the spec) from small frames."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from assetbook.cli.main import main
from assetbook.errors import AssetbookError
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.kinds.package import PackageAssetSpec
from assetbook.kinds.train import TrainAssetSpec
from assetbook.runners.drift import drift_table
from assetbook.scaffold import scaffold_example, scaffold_tabular
from assetbook.scaffold.common import SHARED_WITH_EXAMPLE, project_name
from assetbook.scaffold.data import read_data
from assetbook.scaffold.inference import infer_columns, schema_code, task_of, widened
from assetbook.scaffold.manifest import example_files
from assetbook.scaffold.tabular import drift_floor, pipeline_name
from assetbook.scaffold.templates import example_root
from assetbook.spec.loader import load_project
from tests.conftest import REPO

COMMON = ["pyproject.toml", "README.md", ".gitignore", "tests/test_project.py"]
TABULAR = sorted([*COMMON, *SHARED_WITH_EXAMPLE, "project/__init__.py", "project/schemas.py",
                  "project/features.py", "assets/shop.yaml", "notebooks/features.ipynb"])


def day_frame(day: int, rows: int = 40) -> pd.DataFrame:
    """A day of a small shop: an int, a float with gaps, a text column with few values, a bool,
    and a binary target."""
    rng = np.random.default_rng(day)
    spend = rng.uniform(5.0, 50.0, rows)
    spend[::7] = np.nan
    visits = rng.integers(1, 12, rows)
    return pd.DataFrame({"visits": visits, "spend": spend,
                         "region": rng.choice(["north", "south", "east"], rows),
                         "member": rng.random(rows) < 0.5,
                         "churned": (visits < 5).astype(int)})


def write_days(folder: Path, days: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for day in range(1, days + 1):
        frame = day_frame(day)
        if day % 2:
            frame.to_csv(folder / f"2024-01-{day:02d}.csv", index=False)
        else:
            frame.to_parquet(folder / f"2024-01-{day:02d}.parquet", index=False)
    return folder


def relative_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(root).parts[:1])


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def assert_published_project(root: Path, created: list[Path]) -> None:
    """What both scaffolds promise: a publishable package `project`, a first commit on main
    holding every file, no pin to this machine."""
    assert sorted(p.relative_to(root).as_posix() for p in created) == relative_files(root)
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == ["assetbook"]
    assert pyproject["tool"]["setuptools"]["packages"] == ["project"]
    assert pyproject["tool"]["dagster"]["module_name"] == "project.definitions"
    for path in created:
        assert "file://" not in path.read_text(), path
    assert git(root, "branch", "--show-current") == "main"
    assert git(root, "rev-list", "--count", "HEAD") == "1"
    assert git(root, "status", "--porcelain") == ""  # everything is in the commit
    # what running and editing the project leaves stays out of git
    for made in (".assetbook/dagster/runs.db", "project/__pycache__/features.cpython-311.pyc",
                 "notebooks/.ipynb_checkpoints/features-checkpoint.ipynb"):
        (root / made).parent.mkdir(parents=True, exist_ok=True)
        (root / made).write_text("")
    assert git(root, "status", "--porcelain") == ""
    readme = (root / "README.md").read_text()
    assert "`project/schemas.py`" in readme and "`project/features.py`" in readme
    assert "on `sys.path` and on `PYTHONPATH`" in readme and "carries it as a wheel" in readme


# --- the loans example ------------------------------------------------------------------------


def test_the_example_is_this_repositorys_own_project(tmp_path: Path) -> None:
    root = tmp_path / "Loan scoring!"
    created = scaffold_example(root)
    example = example_files(REPO)
    assert {"project/stream.py", "assets/loans.yaml", "notebooks/features.ipynb",
            ".github/workflows/assetbook-ci.yml"} <= set(example)
    assert relative_files(root) == sorted([*example, *COMMON])
    for name in example:
        assert (root / name).read_bytes() == (REPO / name).read_bytes(), name
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == (
        "Loan-scoring")
    assert_published_project(root, created)
    load_project(root)


def test_init_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AssetbookError, match="is not an empty folder: choose a new path"):
        scaffold_example(tmp_path)
    with pytest.raises(AssetbookError, match="is not an empty folder"):
        scaffold_example(tmp_path / "notes.txt")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_without_a_git_identity_the_first_commit_is_assetbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    scaffold_example(tmp_path / "new")
    assert git(tmp_path / "new", "log", "-1", "--format=%an <%ae>") == (
        "Assetbook <assetbook@localhost>")


def test_the_example_comes_from_the_wheels_copy_else_the_checkout(tmp_path: Path) -> None:
    assert example_root() == REPO  # this editable checkout
    installed = tmp_path / "site-packages" / "assetbook"
    installed.mkdir(parents=True)
    with pytest.raises(AssetbookError, match=r"the loans example is missing from this "
                                             r"installation .*`pip wheel \.`"):
        example_root(installed)
    (installed / "templates" / "loans").mkdir(parents=True)
    assert example_root(installed) == installed / "templates" / "loans"


@pytest.mark.parametrize(("folder", "name", "pipeline"), [
    ("my-loans", "my-loans", "my_loans"), ("a b", "a-b", "a_b"),
    ("...", "assetbook-project", "pipeline"), ("2024 Sales", "2024-Sales", "p_2024_sales")])
def test_names_from_the_folder(folder: str, name: str, pipeline: str) -> None:
    assert project_name(Path(folder)) == name
    assert pipeline_name(Path(folder)) == pipeline


# --- a project on the user's files ------------------------------------------------------------


def test_a_project_on_daily_files(tmp_path: Path) -> None:
    data = write_days(tmp_path / "exports")
    root = tmp_path / "shop"
    made = scaffold_tabular(root, data, "churned")
    created = made.written
    assert made.left_out == ("region",)  # text; `member`, a bool, is read as 0/1
    assert relative_files(root) == TABULAR
    for name in SHARED_WITH_EXAMPLE:  # shared with the example, not copied into assetbook
        assert (root / name).read_bytes() == (REPO / name).read_bytes(), name
    assert_published_project(root, created)
    assert not (root / "bentos").exists()  # the generic service needs no bento folder

    project = load_project(root)
    models = [d.spec for d in project.assets.values() if isinstance(d.spec, TrainAssetSpec)]
    assert [(m.model, m.target, m.task) for m in models] == [
        ("assetbook.models:TabularNet", "churned", "binary")]
    spec = yaml.safe_load((root / "assets" / "shop.yaml").read_text())["assets"]
    assert spec["raw_data"]["source"] == {"type": "landing", "folder": str(data),
                                          "formats": ["parquet", "csv"]}
    assert spec["candidate_model"]["inputs"]["features"] == {"mapping": "window", "size": 2,
                                                             "lag": 2}
    assert spec["evaluation_report"]["inputs"]["features"] == {"mapping": "window", "size": 2}
    # one row's worth of ROC AUC on the 80 held-out rows (2 days of 40), ~29 of them churned:
    # up to 1/29; 0.01 would refuse a candidate that ranks one row otherwise
    assert spec["champion"]["gate"] == {"min": {"roc_auc": 0.6}, "margin": 0.04}
    package = next(d.spec for d in project.assets.values() if isinstance(d.spec, PackageAssetSpec))
    deploy = next(d.spec for d in project.assets.values() if isinstance(d.spec, DeployAssetSpec))
    (row,) = deploy.probe.body.values()
    assert list(deploy.probe.body) == [package.service.record]
    assert row == json.loads(day_frame(4).drop(columns="churned").iloc[:1].to_json(
        orient="records"))[0]  # the newest day's first row, without the target

    notebook = json.loads((root / "notebooks" / "features.ipynb").read_text())
    assert f'sample = "{data / "2024-01-04.parquet"}"' in "".join(notebook["cells"][1]["source"])
    features = (root / "project" / "features.py").read_text()
    assert "MISSING: dict[str, float] = {'spend': " in features

    # The scaffold's own test passes: its specs load and its schema imports.
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:xdist"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_data_inside_the_new_folder_is_kept_and_named_relatively(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    write_days(root / "data" / "daily")
    scaffold_tabular(root, root / "data" / "daily", "churned")
    spec = yaml.safe_load((root / "assets" / "shop.yaml").read_text())["assets"]
    assert spec["raw_data"]["source"]["folder"] == "data/daily"
    assert (root / ".gitignore").read_text().endswith("\n/data/daily/\n")
    assert git(root, "ls-files", "data") == ""  # the user's data stays out of git
    load_project(root)

    clash = tmp_path / "clash"
    write_days(clash / "notebooks")
    with pytest.raises(AssetbookError, match=r"the --data folder .*notebooks is where "
                                             r"`assetbook init` writes notebooks/"):
        scaffold_tabular(clash, clash / "notebooks", "churned")


def test_an_unknown_target_lists_the_columns(tmp_path: Path) -> None:
    data = write_days(tmp_path / "exports")
    with pytest.raises(AssetbookError) as error:
        scaffold_tabular(tmp_path / "shop", data, "churn")
    assert str(error.value) == ("--target 'churn' is not a column of the data; did you mean "
                                "'churned'? Columns: visits, spend, region, member, churned")
    assert not (tmp_path / "shop").exists()


def test_data_folders_that_cannot_make_a_project(tmp_path: Path) -> None:
    with pytest.raises(AssetbookError, match="--data .*missing: not a folder"):
        scaffold_tabular(tmp_path / "a", tmp_path / "missing", "churned")
    few = write_days(tmp_path / "few", days=2)
    (few / "notes.txt").write_text("")
    with pytest.raises(AssetbookError, match=r"found 2 daily file\(s\), 3 at least are needed "
                                             r".*e\.g\. 2024-01-03\.csv \(the folder holds: "
                                             r"2024-01-01\.csv, 2024-01-02\.parquet, notes\.txt"):
        scaffold_tabular(tmp_path / "b", few, "churned")
    odd = write_days(tmp_path / "odd")
    day_frame(5).drop(columns="member").to_csv(odd / "2024-01-05.csv", index=False)
    with pytest.raises(AssetbookError, match=r"2024-01-05\.csv has other columns than "
                                             r"2024-01-01\.csv: missing \['member'\], extra \[\]"):
        scaffold_tabular(tmp_path / "c", odd, "churned")
    gaps = write_days(tmp_path / "gaps")
    day_frame(5).assign(churned=np.nan).to_csv(gaps / "2024-01-05.csv", index=False)
    with pytest.raises(AssetbookError, match=r"the target 'churned' is empty in some rows: "
                                             r"2024-01-05\.csv \(40 rows\)"):
        scaffold_tabular(tmp_path / "d", gaps, "churned")


def test_init_arguments_that_go_together(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "a"), "--target", "y"]) == 1
    assert "--target and --task describe your data: give --data too" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "a"), "--data", str(tmp_path)]) == 1
    assert "--data needs --target, the column to predict" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(("target", "task", "said"), [
    ("churned", None, "it trains a binary model of 'churned' (inferred from its values; "
                      "`init --task` chooses another)"),
    ("visits", "regression", "it trains a regression model of 'visits' (as --task said)"),
])
def test_init_says_what_the_model_predicts(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           target: str, task: str | None, said: str) -> None:
    data = write_days(tmp_path / "exports")
    assert main(["init", str(tmp_path / "shop"), "--data", str(data), "--target", target,
                 *(["--task", task] if task else [])]) == 0
    out = capsys.readouterr().out
    assert f"\n{said}\n" in out
    assert "\ndays of ~40 rows: drift_report tells a shift of a column of many values from " \
        "chance only above PSI " in out  # 4 days: the reference is 2 days of 40 rows
    # as Jupyter saves a notebook (a final newline): saving it unchanged changes nothing
    assert (tmp_path / "shop" / "notebooks" / "features.ipynb").read_text().endswith("}\n")
    evaluation = yaml.safe_load((tmp_path / "shop" / "assets" / "shop.yaml").read_text())[
        "assets"]["evaluation_report"]
    # the threshold is a binary task's option only
    assert evaluation.get("config") == ({"threshold": 0.5} if target == "churned" else None)


# --- inference --------------------------------------------------------------------------------


def load_schema(code: str, name: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The class, from the code run as a module (pandera reads its annotations there)."""
    module = types.ModuleType("inferred_schemas")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, "schemas.py", "exec"), module.__dict__)
    return getattr(module, name)


def test_the_inferred_schema_is_readable_code_that_validates_its_data(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.concat([day_frame(1), day_frame(2)], ignore_index=True).rename(
        columns={"spend": "spend (EUR)"})
    frame["customer"] = [f"c{i}" for i in range(len(frame))]  # many values: no isin
    frame["returns"] = 0  # a count that has not happened yet
    code = schema_code("ShopRows", infer_columns(frame, "churned", "binary"), "2 files")
    assert "    visits: Series[int] = pa.Field(ge=0, le=30, nullable=False)  # seen 1 .. 11" in (
        code)
    assert "    returns: Series[int] = pa.Field(ge=0, nullable=False)  # seen 0 .. 0" in code
    assert "alias='spend (EUR)'" in code
    assert "    member: Series[bool] = pa.Field(nullable=False)" in code
    assert "    customer: Series[str] = pa.Field(nullable=False)" in code
    assert "tighten them" in code and "strict = True" in code and "coerce = True" in code
    assert max(map(len, code.splitlines())) <= 100

    schema = load_schema(code, "ShopRows", monkeypatch).to_schema()
    columns = schema.columns
    assert list(columns) == list(frame.columns)
    assert (str(columns["visits"].dtype), str(columns["spend (EUR)"].dtype)) == (
        "int64", "float64")
    assert (columns["spend (EUR)"].nullable, columns["visits"].nullable) == (True, False)
    checks = {name: {c.name: c.statistics for c in column.checks}
              for name, column in columns.items()}
    assert checks["region"] == {"isin": {"allowed_values": ["east", "north", "south"]}}
    assert checks["churned"] == {"isin": {"allowed_values": [0, 1]}}
    assert checks["customer"] == {}
    low, high = checks["spend (EUR)"]["greater_than_or_equal_to"]["min_value"], checks[
        "spend (EUR)"]["less_than_or_equal_to"]["max_value"]
    observed = frame["spend (EUR)"]
    assert low == 0.0 and high >= observed.max() + (observed.max() - observed.min())
    assert schema.strict and schema.coerce
    schema.validate(frame)  # the data it was inferred from passes ...
    schema.validate(frame.assign(returns=3))  # and the first returns
    with pytest.raises(Exception, match="spend"):  # ... and an absurd value does not
        schema.validate(frame.assign(**{"spend (EUR)": 1e6}))


def test_a_regression_target_gets_bounds_and_no_classes() -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5], "price": [-10.0, 0.0, 30.0]})
    (_, price) = infer_columns(frame, "price", "regression")
    assert (price.isin, price.bounds) == ((), (-50.0, 70.0))


@pytest.mark.parametrize(("low", "high", "integer", "expected"), [
    (11.03, 14.83, False, (7.0, 19.0)),   # widened by the width, rounded outwards
    (20, 80, True, (0, 140)),             # never below zero when all seen values are >= 0
    (-0.107, 0.17, False, (-0.4, 0.5)),
    (0.13, 0.66, False, (0.0, 1.2)),      # no float noise (1.2000000000000002)
    (-30, -10, True, (-50, 0)),           # nor above zero when all are <= 0
    (5, 5, True, (0, 10)),                # a constant: its own size
    (0, 0, True, (0, None)),              # only 0: no size, no upper bound
    (0.0, 0.0, False, (0.0, None)),
])
def test_widened(low: float, high: float, integer: bool, expected: tuple) -> None:
    assert widened(low, high, integer) == expected


def test_the_task_is_inferred_or_checked() -> None:
    assert task_of(pd.Series([0, 1, 1], name="y"), None) == "binary"
    assert task_of(pd.Series(["a", "b", "c"], name="y"), None) == "multiclass"
    assert task_of(pd.Series([0.5, 1.7, 3.2], name="y"), None) == "regression"
    assert task_of(pd.Series([1, 2, 3], name="y"), "regression") == "regression"
    with pytest.raises(AssetbookError, match="--task binary needs a target with two values; "
                                             "'y' has 3: use --task multiclass or regression"):
        task_of(pd.Series([1, 2, 3], name="y"), "binary")
    with pytest.raises(AssetbookError, match="--task regression needs a numeric target"):
        task_of(pd.Series(["a", "b"], name="y"), "regression")


def test_the_example_request_keeps_each_columns_type(tmp_path: Path) -> None:
    """A table of ints and floats alone: its row is all floats, and the served API refuses
    61.0 for an int field; each value is read from its own column."""
    data = tmp_path / "data"
    data.mkdir()
    for day in range(1, 4):
        pd.DataFrame({"age": [61, 48], "bmi": [32.1, 21.6], "progression": [151.0, 75.0]}
                     ).to_csv(data / f"2024-03-0{day}.csv", index=False)

    row = read_data(data, "progression").example_row()

    assert row == {"age": 61, "bmi": 32.1} and type(row["age"]) is int


def test_the_drift_floor_init_states_is_the_one_the_drift_check_applies() -> None:
    """At 40 rows a day a column of many values drifts by chance past PSI 0.25; `init` says
    from which PSI the check can tell, as the drift table computes it for such a day."""
    rng = np.random.default_rng(3)
    said = drift_floor(40, window=2, columns=1)
    assert said is not None and said.floor > 0.25
    table = drift_table(pd.DataFrame({"x": rng.normal(size=80)}),
                        pd.DataFrame({"x": rng.normal(size=40)}), threshold=0.25)
    assert said.floor == pytest.approx(table["noise_floor"][0])
    assert drift_floor(said.rows_needed, window=2, columns=1) is None
    assert drift_floor(said.rows_needed * 0.9, window=2, columns=1) is not None
