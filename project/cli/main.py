"""`assetbook`: run the pipeline, start the UI, land simulated days, serve and roll back."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from project.cli.pipeline import run_pipeline, simulate
from project.cli.serving import ask, rollback, serve, stop
from project.cli.session import Session
from project.errors import AssetbookError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assetbook", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path.cwd(),
                        help="project folder (holds assets/); default: the current folder")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="land the default data if needed and materialize "
                                          "the pipeline")
    run.add_argument("--days", type=int, default=7, help="days of data to have landed")
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
    args = parser.parse_args(argv)
    session = Session(args.project.resolve())
    try:
        if args.command == "run":
            return _run(session, args.days)
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


def _run(session: Session, days: int) -> int:
    outcome = run_pipeline(session, days)
    print(f"{len(outcome.landed)} day(s) landed: {outcome.landed[0]} .. {outcome.landed[-1]}")
    if outcome.computed:
        print(f"materialized {', '.join(outcome.assets)} for {len(outcome.computed)} day(s)")
    if outcome.models:
        print(f"materialized {', '.join(outcome.models)}")
    if not outcome.computed and not outcome.models:
        print("everything was already materialized")
    reports = sorted(session.state.reports.rglob("*.html"))
    for report in reports[-3:]:
        print(f"report: {report}")
    print(f"state folder: {session.state.root}\nsee it in the UI: assetbook dev")
    if not any(d.spec.kind == "deploy" for d in session.project.assets.values()):
        return 0
    serve(session)  # a no-op when it is up; restarts it after `assetbook stop` or a reboot
    answered = ask(session)
    print(f"\nPOST {answered['url']}\n  {json.dumps({'application': answered['application']})}"
          f"\n-> {json.dumps(answered['answer'])}")
    return 0


def _dev(session: Session, host: str, port: int) -> int:
    env = {**os.environ, **session.environ()}
    workspace = session.root / "workspace.yaml"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host,
               "-p", str(port)]
    os.execve(command[0], command, env)
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
