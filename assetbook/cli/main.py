"""`assetbook`: start a project, run the pipeline, start the UI, land simulated days, serve and
roll back, and say where it all stands."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from assetbook.cli.ci import Sample, run_ci
from assetbook.cli.ci_report import write_report
from assetbook.cli.pipeline import run_pipeline, simulate
from assetbook.cli.serving import ask, rollback, serve, stop
from assetbook.cli.session import Session
from assetbook.cli.status import project_status, render, to_json
from assetbook.errors import AssetbookError
from assetbook.scaffold import scaffold_example, scaffold_tabular
from assetbook.serving.target import TASKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assetbook", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path.cwd(),
                        help="project folder (holds assets/); default: the current folder")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create a new project folder that runs end to end")
    init.add_argument("path", type=Path, help="the new folder (absent or empty)")
    init.add_argument("--data", type=Path, help="a folder of your daily files, <day>.csv or "
                      "<day>.parquet; without it: the loans example")
    init.add_argument("--target", help="with --data: the column to predict")
    init.add_argument("--task", choices=TASKS, help="with --data: what the target is "
                      "(default: inferred from its values)")
    run = commands.add_parser("run", help="land the default data if needed and materialize "
                                          "the pipeline")
    run.add_argument("--days", type=int, default=7, help="days of data to have landed")
    run.add_argument("--rows", type=int, help="rows per simulated day (default: the spec's)")
    run.add_argument("--no-serve", dest="serve", action="store_false",
                     help="stop at the champion: no bento, no served model")
    ci = commands.add_parser("ci", help="judge this branch: checks and the stale part of the "
                                        "graph on a sample; a report; exit 1 if refused")
    ci.add_argument("--base", help="git ref whose champion is the yardstick, e.g. origin/main")
    ci.add_argument("--report", type=Path, default=Path("report.md"))
    ci.add_argument("--days", type=int, default=Sample.days)
    ci.add_argument("--rows", type=int, default=Sample.rows)
    sim = commands.add_parser("simulate", help="land N more simulated days")
    sim.add_argument("--days", type=int, default=1)
    sim.add_argument("--source", help="landing source asset (default: the only one)")
    commands.add_parser("rollback", help="serve the previous champion again (MLflow alias "
                                         "and bento)")
    commands.add_parser("serve", help="start the recorded deployment again")
    commands.add_parser("stop", help="stop the served model (nginx and bento servers)")
    dev = commands.add_parser("dev", help="start the Dagster UI and daemon on this project")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--host", default="127.0.0.1")
    status = commands.add_parser("status", help="per asset: last materialization, stale or "
                                                "fresh, freshness; the champion; what serves")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    session = Session(args.project.resolve())
    try:
        if args.command == "init":
            return _init(args.path, args.data, args.target, args.task)
        if args.command == "status":
            current = project_status(session)
            print(to_json(current) if args.json else render(current))
            return 0
        if args.command == "run":
            return _run(session, args.days, args.rows, args.serve)
        if args.command == "ci":
            return _ci(session, args.base, args.report, Sample(args.days, args.rows))
        if args.command == "rollback":
            endpoint = rollback(session)
            print(f"rolled back: serving {endpoint.bento} (model v{endpoint.model_version})")
            return 0
        if args.command == "serve":
            endpoint = serve(session)
            print(f"serving {endpoint.bento} (model v{endpoint.model_version})")
            return 0
        if args.command == "stop":
            stop(session)
            print("stopped")
            return 0
        if args.command == "simulate":
            keys = simulate(session, args.days, args.source)
            print(f"landed {len(keys)} day(s): {', '.join(keys)}")
            return 0
        return _dev(session, args.host, args.port)
    except AssetbookError as exc:
        print(f"assetbook: error: {exc}", file=sys.stderr)
        return 1


def _run(session: Session, days: int, rows: int | None, serve_model: bool) -> int:
    outcome = run_pipeline(session, days, rows, serve_model)
    print(f"{len(outcome.landed)} day(s) landed: {outcome.landed[0]} .. {outcome.landed[-1]}")
    if outcome.computed:
        print(f"materialized {', '.join(outcome.assets)} for {len(outcome.computed)} day(s)")
    if outcome.models:
        print(f"materialized {', '.join(outcome.models)}")
    if not outcome.computed and not outcome.models and not outcome.failed:
        print("everything was already materialized")
    reports = sorted(session.state.reports.rglob("*.html"))
    for report in reports[-3:]:
        print(f"report: {report}")
    print(f"state folder: {session.state.root}\nsee it in the UI: assetbook dev")
    if serve_model and any(d.spec.kind == "deploy" for d in session.project.assets.values()):
        serve(session)  # a no-op when it is up; restarts it after `assetbook stop` or a reboot
        answered = ask(session)
        print(f"\nPOST {answered['url']}\n  {json.dumps(answered['body'])}"
              f"\n-> {json.dumps(answered['answer'])}")
    for key, message in outcome.failed.items():  # the good days went on without these
        print(f"assetbook: day {key} failed and was left out:\n{message}", file=sys.stderr)
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


def _ci(session: Session, base: str | None, report: Path, sample: Sample) -> int:
    outcome, ci_session = run_ci(session.root, base, sample)
    written = write_report(report.resolve(), outcome, ci_session, sample)
    print(written.read_text())
    print(f"\nreport: {written}")
    return 0 if outcome.passed else 1


def _dev(session: Session, host: str, port: int) -> int:
    env = {**os.environ, **session.environ()}
    workspace = session.root / "workspace.yaml"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host,
               "-p", str(port)]
    os.execve(command[0], command, env)
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
