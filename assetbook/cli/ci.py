"""`assetbook ci`: what a pull request does to the model, judged before it is merged.

The base branch is built once (on a small simulated sample, or on the project's own landed
files) up to its champion, the yardstick, in a state folder kept per base commit, so a second
pull request on the same base reuses it. The pull request's code then re-materializes only the
stale part of the graph on the same data, as `assetbook run` does: what Dagster reports stale
(assets whose code version changed) and everything below them. The package and deploy assets
are left out, and the champion is not moved: the gate is applied to the new evaluation report
here, and its verdict is the exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetbook.atomic import atomic_path
from assetbook.cli.pipeline import (
    SERVING_KINDS,
    execute,
    known_keys,
    plan_stale,
    stopped_reason,
)
from assetbook.cli.progress import RunProgress
from assetbook.cli.session import Session
from assetbook.cli.simulate import simulate
from assetbook.data.landing import landed_files, read_landed_file
from assetbook.defaults import SAMPLE_DAYS, SAMPLE_ROWS
from assetbook.errors import AssetbookError
from assetbook.kinds.promote import PromoteAssetSpec
from assetbook.kinds.source.landing import landing_spec
from assetbook.resources.state import STATE_ENV, StateFolder
from assetbook.runners.gate import Decision, decide


@dataclass(frozen=True)
class Sample:
    days: int = SAMPLE_DAYS
    rows: int = SAMPLE_ROWS


@dataclass(frozen=True)
class ScoredData:
    """The landed days that the branch was scored on, as the report names them."""
    source: str                     # the landing source asset
    keys: tuple[str, ...]           # its days, in order
    rows: int                       # in all
    folder: Path
    simulated: bool                 # landed by `assetbook ci` as its sample, not the project's


@dataclass
class CiOutcome:
    base: str                       # what the champion was built from
    data: ScoredData | None = None  # None: it stopped before there was data
    recomputed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None  # the evaluation report of the new candidate
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and (self.decision is None or self.decision.passed)


def run_ci(root: Path, base_ref: str | None, sample: Sample,
           progress: RunProgress | None = None, base_steps: Callable[[str], None] | None = None
           ) -> tuple[CiOutcome, Session]:
    """Build the base (or reuse it; each of its steps' lines goes to `base_steps`), then the
    stale part of this branch (shown by `progress`); judge the result. Returns the outcome
    and the session on the CI state folder."""
    base_sha = _git(root, "rev-parse", "--verify", f"{base_ref}^{{commit}}") if base_ref else None
    state = StateFolder.for_project(root).root / "ci" / (base_sha[:12] if base_sha else "none")
    outcome = CiOutcome(base=f"{base_ref} ({base_sha[:12]})" if base_sha else "no base")
    if base_sha:
        try:
            _build_base(root, base_sha, state, sample, base_steps or (lambda _: None))
        except AssetbookError as exc:
            outcome.failures.append(f"the base {base_ref} could not be built: {exc}")
    os.environ[STATE_ENV] = str(state)
    session = Session(root)
    if outcome.failures:
        return outcome, session
    try:
        outcome.data = scored_data(session, sample)
        plan = plan_stale(session, known_keys(session), lambda name: session.project.assets[
            name].spec.kind not in (*SERVING_KINDS, "promote"))
        outcome.recomputed = list(plan.assets)
        done = execute(session, plan, progress)  # no gate: promote is left out
    except AssetbookError as exc:
        outcome.failures.append(str(exc))
        return outcome, session
    if done.stopped:
        outcome.failures.append(stopped_reason(done.failed))
        return outcome, session
    failed = done.failed
    outcome.failures += [f"day {key}: {message}" for key, message in failed.items()]
    _judge(session, outcome.recomputed, outcome)
    return outcome, session


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode:
        raise AssetbookError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _build_base(root: Path, sha: str, state: Path, sample: Sample,
                steps: Callable[[str], None]) -> None:
    """The base commit's pipeline up to its champion, on the sample where the project has no
    data of its own; once per base commit. Its run's step lines go to `steps` as they end."""
    marker = state / "base.json"
    wanted = {"sha": sha, "days": sample.days, "rows": sample.rows}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    top = Path(_git(root, "rev-parse", "--show-toplevel"))
    with tempfile.TemporaryDirectory(prefix="assetbook-base-") as tmp:
        worktree = Path(tmp) / "base"
        _git(root, "worktree", "add", "--detach", str(worktree), sha)
        try:
            base_project = worktree / root.resolve().relative_to(top.resolve())
            command = [sys.executable, "-m", "assetbook.cli.main", "--project", str(base_project),
                       "run", "--days", str(sample.days), "--rows", str(sample.rows),
                       "--no-serve"]
            env = {**os.environ, STATE_ENV: str(state)}
            returncode, output = _streamed(command, worktree, env, steps)
        finally:
            _git(root, "worktree", "remove", "--force", str(worktree))
    if returncode:
        raise AssetbookError(output.strip()[-3000:])
    with atomic_path(marker) as tmp_marker:
        tmp_marker.write_text(json.dumps(wanted))


def _streamed(command: list[str], cwd: Path, env: dict[str, str],
              steps: Callable[[str], None]) -> tuple[int, str]:
    """Run `command`, passing each step's line (✓ or ✗) to `steps` as it is printed; its exit
    code and its error output (or, if there is none, its output)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors,
                              text=True) as process:
            assert process.stdout is not None
            printed = []
            for line in process.stdout:
                printed.append(line)
                if line.startswith(("✓", "✗")):
                    steps(line.rstrip())
        errors.seek(0)
        return process.returncode, errors.read() or "".join(printed)


def scored_data(session: Session, sample: Sample) -> ScoredData:
    """The landed days of the CI state; without any (no base was built), this branch lands
    the sample itself. Days in the CI state folder were simulated there (by the base's run or
    by this branch); days in a folder of the project are its own."""
    declared, folder = session.landing_source()
    formats = landing_spec(declared).formats
    simulated = not landed_files(folder, formats)
    if simulated:
        simulate(session, sample.days, declared.name, sample.rows)
    keys = tuple(sorted(landed_files(folder, formats)))
    rows = sum(len(read_landed_file(folder, key, formats)) for key in keys)
    return ScoredData(declared.name, keys, rows, folder,
                      simulated or folder.is_relative_to(session.state.root))


def _judge(session: Session, stale: Iterable[str], outcome: CiOutcome) -> None:
    """The gate of each promote asset whose evaluation report scores a candidate of a branch:
    recomputed now, or by an earlier `ci` of the same code (nothing is stale then, and the
    verdict is the same). The base's own report, from its first run, has no champion."""
    for name, declared in session.project.assets.items():
        spec = declared.spec
        if not isinstance(spec, PromoteAssetSpec):
            continue
        (evaluation,) = [n for n in spec.inputs if session.project.assets[n].spec.kind
                         == "evaluate"]
        path = session.state.artifacts / evaluation / "all.json"
        report = json.loads(path.read_text()) if path.exists() else None
        if report is None or (evaluation not in stale and report["champion_version"] is None):
            continue
        outcome.report = report
        outcome.decision = decide(outcome.report["candidate"], outcome.report["champion"],
                                  spec.gate, outcome.report["task"])
        outcome.report["promote_asset"] = name
