"""The `assetbook` command line's commands and flags. It imports none of the framework's
heavy parts (Dagster, pandas, torch), so `--help` and a mistyped flag answer at once; each
command imports what it needs as it runs (cli/main.py)."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from assetbook.defaults import DEFAULT_KEEP, SAMPLE_DAYS, SAMPLE_ROWS, SIMULATED_DAYS
from assetbook.serving.tasks import TASKS

DESCRIPTION = ("`assetbook`: start a project, run the pipeline or one asset, open a notebook on "
               "real data, start the UI, land simulated days, serve and roll back, and say "
               "where it all stands.")
VERBOSE = ("show the output of Dagster, Ray, MLflow, kernels and servers (by default it goes "
           "to a log file under .assetbook/logs)")


def _command(commands: argparse._SubParsersAction, name: str, help: str
             ) -> argparse.ArgumentParser:
    """A command whose --help starts with what it does, and which takes -v after its name
    too (`assetbook run -v` was refused as an unknown argument)."""
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help=VERBOSE)
    return commands.add_parser(name, help=help, description=help, parents=[verbose])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assetbook", description=DESCRIPTION)
    parser.add_argument("--project", type=Path, default=Path.cwd(),
                        help="project folder (holds assets/); default: the current folder")
    parser.add_argument("--profile", metavar="NAME",
                        help="a profile of the project's profiles.yaml: where artifacts, the "
                             "Dagster instance, MLflow and Ray live (default: $ASSETBOOK_PROFILE, "
                             "else 'embedded', all in .assetbook/)")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do (each has --help)")
    init = _command(commands, "init", help="create a new project folder that runs end to end")
    init.add_argument("path", type=Path, help="the new folder (absent or empty)")
    init.add_argument("--data", type=Path, help="a folder of your daily files, <day>.csv or "
                      "<day>.parquet; without it: the loans example")
    init.add_argument("--target", help="with --data: the column to predict")
    init.add_argument("--task", choices=TASKS, help="with --data: what the target is "
                      "(default: inferred from its values)")
    run = _command(commands, "run", help="land the default data if needed and materialize "
                                         "what Dagster reports missing or stale")
    run.add_argument("--days", type=int, help="with a simulator: days of data to have landed "
                     f"(simulated days are added up to this many; default: {SIMULATED_DAYS})")
    run.add_argument("--rows", type=int, help="with a simulator: rows per simulated day "
                     "(default: the spec's)")
    run.add_argument("--no-serve", dest="serve", action="store_false",
                     help="stop at the champion: no bento, no served model")
    materialize = _command(commands, "materialize", help="materialize the named assets "
                                                         "now, stale or not")
    materialize.add_argument("assets", nargs="+", metavar="ASSET", help="asset names")
    which = materialize.add_mutually_exclusive_group()
    which.add_argument("--partition", metavar="KEY", help="one partition (default: all)")
    which.add_argument("--from", dest="first", metavar="KEY",
                       help="the first partition of a range (default: the first)")
    materialize.add_argument("--to", dest="last", metavar="KEY",
                             help="the last partition of a range (default: the last)")
    materialize.add_argument("--downstream", action="store_true",
                             help="also everything below the named assets")
    ci = _command(commands, "ci", help="judge this branch: checks and the stale part of the "
                                       "graph on a sample; a report; exit 1 if refused")
    ci.add_argument("--base", help="git ref whose champion is the yardstick, e.g. origin/main")
    ci.add_argument("--report", type=Path, default=Path("report.md"),
                    help="where to write the Markdown report (default: report.md)")
    ci.add_argument("--days", type=int, default=SAMPLE_DAYS,
                    help=f"days in the sample when the project has no landed data "
                         f"(default: {SAMPLE_DAYS})")
    ci.add_argument("--rows", type=int, default=SAMPLE_ROWS,
                    help=f"rows per simulated day of the sample (default: {SAMPLE_ROWS})")
    sim = _command(commands, "simulate", help="land N more simulated days")
    sim.add_argument("--days", type=int, default=1, help="how many days (default: 1)")
    sim.add_argument("--source", help="landing source asset (default: the only one)")
    _notebook(commands)
    promotion = _command(commands, "promote", help="serve in a later deployment (production) "
                                                   "what the one before it serves (staging)")
    promotion.add_argument("--to", required=True, metavar="DEPLOYMENT",
                           help="the `deploy` asset to promote to, e.g. production")
    promotion.add_argument("--by", metavar="NAME", default=getpass.getuser(),
                           help="who approves, recorded with the deployment (default: you, "
                                f"{getpass.getuser()})")
    rollback_command = _command(
        commands, "rollback", help="serve the previous version again in one deployment; the "
        "first deployment's rollback moves the MLflow alias `champion` back")
    rollback_command.add_argument("--env", metavar="DEPLOYMENT",
                                  help="the `deploy` asset to roll back (default: the first)")
    rollback_command.add_argument("--by", metavar="NAME", default=getpass.getuser(),
                                  help="who rolls back, recorded with the deployment "
                                       f"(default: you, {getpass.getuser()})")
    _command(commands, "serve", help="start the recorded deployments again")
    _command(commands, "stop", help="stop the served models (nginx and bento servers)")
    dev = _command(commands, "dev", help="start the Dagster UI and daemon on this project")
    dev.add_argument("--port", type=int, default=3000, help="UI port (default: 3000)")
    dev.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: 127.0.0.1, this machine only)")
    status = _command(commands, "status", help="per asset: last materialization, stale or "
                                               "fresh, freshness; the champion; what serves")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _versions(commands)
    _reproduce(commands)
    return parser


def _notebook(commands: argparse._SubParsersAction) -> None:
    """The `notebook` command and its flags."""
    parser = _command(
        commands, "notebook", help="open an asset's notebook in Jupyter (127.0.0.1) on real "
        "data: a partition's upstream files, its config, and an output in a scratch folder")
    parser.add_argument("asset", metavar="ASSET", help="a notebook or evaluate asset, e.g. "
                        "features (of a notebook with several outputs: any output, or the "
                        "notebook's own name)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--partition", metavar="KEY", help="the partition to work on (default: "
                       "the latest one its upstream has materialized)")
    which.add_argument("--last", type=_positive, metavar="N", help="the last N partitions its "
                       "upstream has materialized, as one range (a backfill in one kernel)")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the parameters as JSON and exit, for editors that run "
                        "notebooks themselves (VS Code)")
    parser.add_argument("--port", type=int, default=8888,
                        help="Jupyter's port on 127.0.0.1 (default: 8888)")
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="only print Jupyter's address; do not open a web browser")


def _versions(commands: argparse._SubParsersAction) -> None:
    lineage = _command(commands, "lineage", help="what a model version was made of: the "
                                                 "content version of every partition it read, "
                                                 "its commit and code versions")
    lineage.add_argument("version", metavar="MODEL_VERSION",
                         help="a version of the registered model, or an alias (champion)")
    lineage.add_argument("--model", help="the registered model (default: the project's only "
                         "one)")
    lineage.add_argument("--json", action="store_true", help="print the manifest as JSON")
    history = _command(commands, "history", help="every model version: held-out metrics, "
                                                 "data window, gate decision and commit; and a "
                                                 "plot")
    history.add_argument("--model", help="the registered model (default: the project's only "
                         "one)")
    history.add_argument("--plot", type=Path, help="where to draw the metrics across versions "
                         "(default: .assetbook/history.png)")
    history.add_argument("--json", action="store_true", help="print the rows as JSON")
    gc = _command(commands, "gc", help="remove kept data versions that no registered model "
                                       "read and that are not among each partition's newest")
    gc.add_argument("--keep", type=int, default=DEFAULT_KEEP, help="newest versions kept per "
                    f"partition (default: {DEFAULT_KEEP}; the latest is always kept)")
    gc.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")


def _reproduce(commands: argparse._SubParsersAction) -> None:
    parser = _command(commands, "reproduce", help="rebuild a past model version from its "
                                                  "commit and the data versions it read; exit 1 "
                                                  "if it differs")
    parser.add_argument("version", metavar="MODEL_VERSION",
                        help="a version of the registered model, or an alias (champion)")
    parser.add_argument("--model", help="the registered model (default: the project's only "
                        "one)")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="largest difference of a held-out metric that still counts as "
                             "the same model (default: 1e-6)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give 1 or more")
    return value
