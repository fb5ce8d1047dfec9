"""`assetbook`: start a project, run the pipeline or one asset, open a notebook on real data,
start the UI, land simulated days, serve and roll back, and say where it all stands."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from assetbook.cli import notebook, reproduce, versions
from assetbook.cli.ci import Sample, run_ci
from assetbook.cli.ci_report import write_report
from assetbook.cli.output import Output, command_output
from assetbook.cli.pipeline import (
    PipelineRun,
    keys_between,
    materialize_selection,
    run_pipeline,
    simulate,
)
from assetbook.cli.progress import RunProgress
from assetbook.cli.serving import ask, promote, rollback, serve, stop
from assetbook.cli.session import Session
from assetbook.cli.status import project_status, render, to_json
from assetbook.cli.summary import print_summary
from assetbook.errors import AssetbookError
from assetbook.resources.profile import PROFILE_ENV
from assetbook.scaffold import scaffold_example, scaffold_tabular
from assetbook.serving.target import TASKS

QUIET_COMMANDS = ("run", "materialize", "ci", "simulate", "status", "promote", "rollback",
                  "serve", "lineage", "history", "gc", "reproduce")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assetbook", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path.cwd(),
                        help="project folder (holds assets/); default: the current folder")
    parser.add_argument("--profile", metavar="NAME",
                        help="a profile of the project's profiles.yaml: where artifacts, the "
                             "Dagster instance, MLflow and Ray live (default: $ASSETBOOK_PROFILE, "
                             "else 'embedded', all in .assetbook/)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the output of Dagster, Ray, MLflow, kernels and servers "
                             "(by default it goes to a log file under .assetbook/logs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do (each has --help)")
    init = commands.add_parser("init", help="create a new project folder that runs end to end")
    init.add_argument("path", type=Path, help="the new folder (absent or empty)")
    init.add_argument("--data", type=Path, help="a folder of your daily files, <day>.csv or "
                      "<day>.parquet; without it: the loans example")
    init.add_argument("--target", help="with --data: the column to predict")
    init.add_argument("--task", choices=TASKS, help="with --data: what the target is "
                      "(default: inferred from its values)")
    run = commands.add_parser("run", help="land the default data if needed and materialize "
                                          "what Dagster reports missing or stale")
    run.add_argument("--days", type=int, default=7, help="days of data to have landed "
                     "(simulated days are added up to this many; default: 7)")
    run.add_argument("--rows", type=int, help="rows per simulated day (default: the spec's)")
    run.add_argument("--no-serve", dest="serve", action="store_false",
                     help="stop at the champion: no bento, no served model")
    materialize = commands.add_parser("materialize", help="materialize the named assets "
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
    ci = commands.add_parser("ci", help="judge this branch: checks and the stale part of the "
                                        "graph on a sample; a report; exit 1 if refused")
    ci.add_argument("--base", help="git ref whose champion is the yardstick, e.g. origin/main")
    ci.add_argument("--report", type=Path, default=Path("report.md"),
                    help="where to write the Markdown report (default: report.md)")
    ci.add_argument("--days", type=int, default=Sample.days,
                    help=f"days in the sample when the project has no landed data "
                         f"(default: {Sample.days})")
    ci.add_argument("--rows", type=int, default=Sample.rows,
                    help=f"rows per simulated day of the sample (default: {Sample.rows})")
    sim = commands.add_parser("simulate", help="land N more simulated days")
    sim.add_argument("--days", type=int, default=1, help="how many days (default: 1)")
    sim.add_argument("--source", help="landing source asset (default: the only one)")
    notebook.add_parser(commands)
    promotion = commands.add_parser("promote", help="serve in a later deployment (production) "
                                                    "what the one before it serves (staging)")
    promotion.add_argument("--to", required=True, metavar="DEPLOYMENT",
                           help="the `deploy` asset to promote to, e.g. production")
    promotion.add_argument("--by", metavar="NAME", default=getpass.getuser(),
                           help="who approves, recorded with the deployment (default: you, "
                                f"{getpass.getuser()})")
    rollback_command = commands.add_parser(
        "rollback", help="serve the previous version again in one deployment; the first "
        "deployment's rollback moves the MLflow alias `champion` back")
    rollback_command.add_argument("--env", metavar="DEPLOYMENT",
                                  help="the `deploy` asset to roll back (default: the first)")
    rollback_command.add_argument("--by", metavar="NAME", default=getpass.getuser(),
                                  help="who rolls back, recorded with the deployment "
                                       f"(default: you, {getpass.getuser()})")
    commands.add_parser("serve", help="start the recorded deployments again")
    commands.add_parser("stop", help="stop the served models (nginx and bento servers)")
    dev = commands.add_parser("dev", help="start the Dagster UI and daemon on this project")
    dev.add_argument("--port", type=int, default=3000, help="UI port (default: 3000)")
    dev.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: 127.0.0.1, this machine only)")
    status = commands.add_parser("status", help="per asset: last materialization, stale or "
                                                "fresh, freshness; the champion; what serves")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    versions.add_parsers(commands)
    reproduce.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile:  # for this process and every process it starts (kernels, dagster dev)
        os.environ[PROFILE_ENV] = args.profile
    session = Session(args.project.resolve())
    if args.command == "init":
        return _guarded(lambda: _init(args.path, args.data, args.target, args.task))
    if args.command == "dev":
        return _guarded(lambda: _dev(session, args.host, args.port))
    if args.command == "notebook":
        return _guarded(lambda: notebook.run_notebook_command(session, args))
    quiet = args.command in QUIET_COMMANDS and not args.verbose
    try:  # the state folder reads the profile, which may be malformed
        logs = session.state.root / "logs" if quiet and (session.root / "assets").is_dir() \
            else None
    except AssetbookError as exc:
        print(f"assetbook: error: {exc}", file=sys.stderr)
        return 1
    with command_output(logs, args.command) as output:
        try:
            return _command(session, args, output)
        except AssetbookError as exc:
            output.err.print(f"assetbook: error: {exc}", markup=False)
            if output.log is not None:
                output.err.print(f"full log: {output.log}", markup=False)
            return 1


def _command(session: Session, args: argparse.Namespace, output: Output) -> int:
    say = output.out.print
    if args.command == "run":
        return _run(session, args.days, args.rows, args.serve, output)
    if args.command == "materialize":
        return _materialize(session, args, output)
    if args.command == "ci":
        return _ci(session, args.base, args.report, Sample(args.days, args.rows), output)
    if args.command == "status":
        with output.err.status("reading the project's instance"):
            current = project_status(session)
        say(to_json(current) if args.json else render(current), markup=False)
        return 0
    if args.command == "reproduce":
        rebuilt = reproduce.reproduce(session, args.version, args.model, args.tolerance,
                                      lambda text: output.err.print(text, markup=False))
        say(reproduce.render(rebuilt), markup=False)
        return 0 if rebuilt.matches else 1
    if args.command in ("lineage", "history", "gc"):
        return versions.run_versions_command(session, args, lambda text: say(
            text, markup=False, soft_wrap=True))
    if args.command == "simulate":
        keys = simulate(session, args.days, args.source)
        say(f"landed {len(keys)} day(s): {', '.join(keys)}", markup=False)
        return 0
    if args.command == "promote":
        endpoint = promote(session, args.to, args.by, RunProgress(output.out))
        say(f"promoted to {args.to}: serving {endpoint.bento} (model v"
            f"{endpoint.model_version}), approved by {endpoint.approved_by}", markup=False)
        return 0
    if args.command == "rollback":
        endpoint = rollback(session, args.env, args.by)
        say(f"rolled back: serving {endpoint.bento} (model v{endpoint.model_version})",
            markup=False)
        return 0
    if args.command == "serve":
        for endpoint in serve(session):
            say(f"serving {endpoint.bento} (model v{endpoint.model_version})", markup=False)
        return 0
    stop(session)
    say("stopped")
    return 0


def _run(session: Session, days: int, rows: int | None, serve_model: bool,
         output: Output) -> int:
    since = datetime.now(UTC)
    outcome = run_pipeline(session, days, rows, serve_model,
                           RunProgress(output.out))
    print_summary(output.out, outcome, session.state, since, output.log)
    if serve_model and any(d.spec.kind == "deploy" for d in session.project.assets.values()):
        with output.err.status("asking the served model"):
            serve(session)  # a no-op when it is up; restarts it after `assetbook stop`
            answered = ask(session)
        output.out.print(f"\nPOST {answered['url']}\n  {json.dumps(answered['body'])}"
                         f"\n-> {json.dumps(answered['answer'])}", markup=False, soft_wrap=True)
    return _report_failed_days(outcome, output)


def _materialize(session: Session, args: argparse.Namespace, output: Output) -> int:
    since = datetime.now(UTC)
    if args.partition and args.last:
        raise AssetbookError("--to goes with --from, not with --partition")
    keys = ([args.partition] if args.partition else
            keys_between(session, args.assets, args.first, args.last)
            if args.first or args.last else None)
    if keys == []:
        raise AssetbookError(f"no partition between {args.first or 'the first'} and "
                             f"{args.last or 'the last'}")
    outcome = materialize_selection(session, args.assets, keys, args.downstream,
                                    RunProgress(output.out))
    print_summary(output.out, outcome, session.state, since, output.log)
    return _report_failed_days(outcome, output)


def _report_failed_days(outcome: PipelineRun, output: Output) -> int:
    for key, message in outcome.failed.items():  # the good days went on without these
        output.err.print(f"assetbook: day {key} failed and was left out:\n{message}",
                         markup=False)
    return 1 if outcome.failed else 0


def _init(path: Path, data: Path | None, target: str | None, task: str | None) -> int:
    if data is None and (target or task):
        raise AssetbookError("--target and --task describe your data: give --data too, e.g. "
                             "`assetbook init my-project --data data/ --target label`")
    if data is not None and not target:
        raise AssetbookError("--data needs --target, the column to predict, e.g. "
                             f"`assetbook init {path} --data {data} --target label`")
    created = (scaffold_example(path) if data is None
               else scaffold_tabular(path, data, target, task))  # type: ignore[arg-type]
    root = path.resolve()
    print(f"created {root} (a git repository, first commit on main):")
    for file in created:
        print(f"  {file.relative_to(root)}")
    print(f"\nnext: cd {shlex.quote(str(path))} && assetbook run")
    return 0


def _ci(session: Session, base: str | None, report: Path, sample: Sample,
        output: Output) -> int:
    if base:
        output.out.print(f"building the base {base} on the sample (once per base commit)",
                         markup=False)
    outcome, ci_session = run_ci(session.root, base, sample, RunProgress(output.out))
    written = write_report(report.resolve(), outcome, ci_session, sample)
    output.out.print(written.read_text(), markup=False)
    output.out.print(f"\nreport: {written}", markup=False)
    return 0 if outcome.passed else 1


def _dev(session: Session, host: str, port: int) -> int:
    env = {**os.environ, **session.environ()}
    workspace = session.root / "workspace.yaml"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host,
               "-p", str(port)]
    os.execve(command[0], command, env)
    return 0  # not reached: exec replaces this process


def _guarded(command) -> int:
    try:
        return command()
    except AssetbookError as exc:
        print(f"assetbook: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
