"""What each `assetbook` command does, once cli/parser.py has read its flags: this module
loads the framework (Dagster, the graph, the serving), which `--help` never needs."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from assetbook.cli import notebook, reproduce, versions
from assetbook.cli.ci import Sample, run_ci
from assetbook.cli.ci_report import write_report
from assetbook.cli.output import Output, with_output
from assetbook.cli.pipeline import (
    PipelineRun,
    keys_between,
    materialize_selection,
    run_pipeline,
    stopped_reason,
)
from assetbook.cli.progress import RunProgress
from assetbook.cli.serving import ask, promote, rollback, serve
from assetbook.cli.session import Session
from assetbook.cli.status import project_status, render, to_json
from assetbook.cli.summary import print_summary
from assetbook.errors import AssetbookError
from assetbook.scaffold import scaffold_example, scaffold_tabular
from assetbook.spec.loader import load_project

DEV_SUPERSEDED = "Function `dev_command` is superseded"  # a warning's start, as -W takes it


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit status."""
    session = Session(args.project.resolve())
    if args.command == "init":
        return _guarded(lambda: _init(args.path, args.data, args.target, args.task))
    if args.command == "dev":
        return _guarded(lambda: _dev(session, args.host, args.port))
    if args.command == "notebook":
        return _guarded(lambda: notebook.run_notebook_command(session, args))
    return with_output(session, args.command, args.verbose,
                       lambda output: _command(session, args, output))


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
    assert args.command == "serve", args.command  # `stop`, `simulate`: never this module
    for endpoint in serve(session):
        say(f"serving {endpoint.bento} (model v{endpoint.model_version})", markup=False)
    return 0


def _run(session: Session, days: int, rows: int | None, serve_model: bool,
         output: Output) -> int:
    since = datetime.now(UTC)
    outcome = run_pipeline(session, days, rows, serve_model,
                           RunProgress(output.out))
    print_summary(output.out, outcome, session.state, since, output.log)
    if serve_model and not outcome.refused and not outcome.stopped and any(
            d.spec.kind == "deploy" for d in session.project.assets.values()):
        with output.err.status("asking the served model"):
            serve(session)  # a no-op when it is up; restarts it after `assetbook stop`
            answered = ask(session)
        output.out.print(f"\nPOST {answered['url']}\n  {json.dumps(answered['body'])}"
                         f"\n-> {json.dumps(answered['answer'])}", markup=False, soft_wrap=True)
    return _report_outcome(outcome, output)


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
    return _report_outcome(outcome, output)


def _report_outcome(outcome: PipelineRun, output: Output) -> int:
    """What a script should know beyond the summary: the days left out, a refused candidate
    (exit code 1 for either, though the run itself went as planned)."""
    if outcome.stopped:
        output.err.print(f"assetbook: error: {stopped_reason(outcome.failed)}", markup=False)
        return 1
    for key, message in outcome.failed.items():  # the good days went on without these
        output.err.print(f"assetbook: day {key} failed and was left out:\n{message}",
                         markup=False)
    if outcome.refused:
        output.err.print("assetbook: the gate refused the candidate; the champion and what is "
                         f"served stay as they were:\n{outcome.refused.reason}", markup=False)
    return 1 if outcome.failed or outcome.refused else 0


def _init(path: Path, data: Path | None, target: str | None, task: str | None) -> int:
    if data is None and (target or task):
        raise AssetbookError("--target and --task describe your data: give --data too, e.g. "
                             "`assetbook init my-project --data data/ --target label`")
    if data is not None and not target:
        raise AssetbookError("--data needs --target, the column to predict, e.g. "
                             f"`assetbook init {path} --data {data} --target label`")
    made = (None if data is None
            else scaffold_tabular(path, data, target, task))  # type: ignore[arg-type]
    created = scaffold_example(path) if made is None else made.written
    root = path.resolve()
    print(f"created {root} (a git repository, first commit on main):")
    for file in created:
        print(f"  {file.relative_to(root)}")
    if made is not None:
        print(f"\n{_trained(root, task)}")
    if made is not None and made.drift_floor is not None:
        print(made.drift_floor)
    if made is not None and made.left_out:
        print(f"it leaves out the text column(s) {', '.join(made.left_out)}: "
              "project/features.py can turn them into numbers")
    print(f"\nnext: cd {shlex.quote(str(path))} && assetbook run")
    return 0


def _trained(root: Path, task: str | None) -> str:
    """What the new project's model predicts, and whether its task was inferred."""
    (model,) = [d.spec for d in load_project(root).assets.values() if d.spec.kind == "train"]
    how = ("as --task said" if task else "inferred from its values; `init --task` chooses "
           "another")
    return f"it trains a {model.task} model of '{model.target}' ({how})"


def _ci(session: Session, base: str | None, report: Path, sample: Sample,
        output: Output) -> int:
    if base:
        output.out.print(f"the base {base}: its champion, built once per base commit",
                         markup=False)
    outcome, ci_session = run_ci(session.root, base, sample, RunProgress(output.out),
                                 lambda line: output.out.print(f"  {line}", markup=False))
    written = write_report(report.resolve(), outcome, ci_session, sample)
    output.out.print(written.read_text(), markup=False)
    output.out.print(f"\nreport: {written}", markup=False)
    return 0 if outcome.passed else 1


def _dev(session: Session, host: str, port: int) -> int:
    env = {**os.environ, **session.environ()}
    workspace = session.root / "workspace.yaml"
    # Dagster 1.13 points at `dg dev` (another package, another project layout) at each start
    command = [sys.executable, "-W", f"ignore:{DEV_SUPERSEDED}", "-m", "dagster", "dev", "-w",
               str(workspace), "-h", host, "-p", str(port)]
    # `dagster dev` stops on SIGINT and gives SIGTERM the same handler. A shell that starts a
    # command in the background (`assetbook dev &` in a script) ignores SIGINT in it, and that
    # survives exec: without this, `kill` would not stop it either.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(command[0], command, env)
    return 0  # not reached: exec replaces this process


def _guarded(command) -> int:
    try:
        return command()
    except AssetbookError as exc:
        print(f"assetbook: error: {exc}", file=sys.stderr)
        return 1

