"""`assetbook notebook ASSET`: Jupyter on 127.0.0.1 with the asset's notebook open on real data.

The notebook gets the parameters the pipeline itself would inject for the chosen partitions
(the builders' own `notebook_parameters` and `evaluation_parameters`, fed by the IO manager's
stored files), except that its output goes to a scratch folder the pipeline never reads. The
injected cell lives only in the open notebook: Jupyter's contents manager adds it when the
notebook is opened and drops it when it is saved (`assetbook.runners.injection`), so the file,
its code version and the commits never hold it. `--print` prints the parameters instead, for
editors that run notebooks themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg

from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext, input_of_kind
from assetbook.graph.internals import GraphState
from assetbook.graph.stored import StoredAssets, describe_keys
from assetbook.graph.training import registered_name
from assetbook.kinds.evaluate.asset import evaluation_parameters
from assetbook.kinds.notebook.asset import notebook_parameters
from assetbook.kinds.promote.asset import replaced_champion
from assetbook.resources.state import UNPARTITIONED, safe_part
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.notebook import as_data
from assetbook.spec.loader import DeclaredAsset

NOTEBOOK_KINDS = ("notebook", "evaluate")
CONTENTS_MANAGER = "assetbook.runners.injection.InjectingContentsManager"
START_TIMEOUT_S = 120.0  # a busy machine's JupyterLab takes seconds to import and listen


def run_notebook_command(session: Session, args: argparse.Namespace) -> int:
    """Print the parameters, or run the Jupyter server until it stops."""
    declared, parameters = opened_parameters(session, args.asset, args.partition, args.last)
    if args.print_only:
        print(json.dumps(as_data(parameters), indent=2))
        return 0
    return _run_jupyter(session, declared, parameters, args.port, args.browser, args.verbose)


def opened_parameters(session: Session, asset: str, partition: str | None,
                      last: int | None) -> tuple[DeclaredAsset, dict[str, Any]]:
    """The step (the asset, or the notebook writing it among several) and what the pipeline
    would inject to compute the chosen partitions, with the outputs in the scratch folder."""
    ctx = BuildContext(session.project, session.state)
    stored = StoredAssets(ctx, session.instance)
    if asset not in ctx.project.steps:
        asset = stored.declared(asset).producer or asset
    declared = ctx.project.steps[asset]
    if declared.spec.kind not in NOTEBOOK_KINDS:
        opened = [n for n, d in ctx.project.assets.items() if d.spec.kind in NOTEBOOK_KINDS]
        raise AssetbookError(f"'{asset}' is a {declared.spec.kind} asset and runs no notebook; "
                             f"assetbook notebook opens {', '.join(opened) or 'none here'}")
    inputs = stored.inputs(declared)
    if unstored := [name for name, files in inputs.items() if not files]:
        raise AssetbookError(f"'{asset}' reads {', '.join(unstored)}, which has no stored "
                             "partition yet: run the pipeline first (`assetbook run`)")
    keys = _chosen_keys(stored, declared, partition, last)
    scratch = session.state.scratch / safe_part(asset)
    scratch.mkdir(parents=True, exist_ok=True)
    if declared.spec.kind == "evaluate":
        registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
        return declared, _as_gated(ctx, declared, registry, scratch, evaluation_parameters(
            ctx, declared, inputs, session.instance, registry,
            scratch / f"{UNPARTITIONED}.json", scratch))
    parameters = notebook_parameters(ctx, declared, inputs, session.instance, {
        key: {written.name: _scratch_folder(scratch, written) / f"{safe_part(key)}.parquet"
              for written in ctx.project.written_by(asset)} for key in keys})
    for entry in parameters["partitions"]:
        if empty := [name for name, files in entry["inputs"].items() if not files]:
            failed = (f", whose {entry['key']} failed in its last run (`assetbook run` tries "
                      "it again and says why)"
                      if GraphState(session.instance, session.defs).failed(
                          dg.AssetKey(empty[0]), [entry["key"]]) else "")
            raise AssetbookError(
                f"'{asset}' ({entry['key']}) would read no stored partition of {empty[0]}"
                f"{failed}; pick another with --partition (materialized: "
                f"{describe_keys(stored.materialized(empty[0]))})")
    return declared, parameters


def _as_gated(ctx: BuildContext, declared: DeclaredAsset, registry: MlflowTracking,
              scratch: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Once promoted, the candidate is the champion the alias names: the notebook compares it
    with the champion it replaced, as its gate did, not with itself."""
    version = parameters["candidate_version"]
    if parameters["champion_version"] != version:
        return parameters
    name = registered_name(ctx, input_of_kind(ctx, declared, "train"))
    replaced = replaced_champion(ctx.state.promotions, name, version)
    return {**parameters, "champion_version": replaced,
            "champion": str(registry.download(name, replaced, scratch)) if replaced else None}


def _scratch_folder(scratch: Path, written: DeclaredAsset) -> Path:
    """The scratch folder itself, or a folder in it for each output of a notebook."""
    if written.producer is None:
        return scratch
    folder = scratch / safe_part(written.name)
    folder.mkdir(exist_ok=True)
    return folder


def _chosen_keys(stored: StoredAssets, declared: DeclaredAsset, partition: str | None,
                 last: int | None) -> list[str]:
    """The partition named, else the latest `last` (default 1) that every input partitioned
    like the asset has materialized."""
    name, mine = declared.name, declared.spec.partitions
    if mine is None:
        if partition is not None or last is not None:
            raise AssetbookError(f"'{name}' is not partitioned: drop --partition and --last")
        return [UNPARTITIONED]
    if partition is not None:
        if partition not in (keys := stored.partition_keys(name)):
            raise AssetbookError(f"'{name}' has no partition '{partition}' (its partitions: "
                                 f"{describe_keys(keys)})")
        return [partition]
    alike = [n for n in declared.spec.inputs if stored.ctx.project.assets[n].spec.partitions
             == mine]
    if not alike:
        raise AssetbookError(f"'{name}' reads no input partitioned like it: name the partition "
                             "with --partition KEY")
    common = sorted(set.intersection(*(set(stored.materialized(n)) for n in alike)))
    if not common:
        raise AssetbookError(f"no partition of {', '.join(alike)} is materialized yet: run the "
                             "pipeline first (`assetbook run`)")
    return common[-(last or 1):]


def _run_jupyter(session: Session, declared: DeclaredAsset, parameters: dict[str, Any],
                 port: int, browser: bool, verbose: bool = False) -> int:
    """JupyterLab on the loopback, with the injecting contents manager, until it stops; its
    kernels start in the project root, as a pipeline run's do. Its URL is printed once it
    listens, so the link answers when it is followed. Its log says only errors unless
    `verbose` (each request, each kernel, and that a notebook whose outputs were not made
    here is "not trusted")."""
    _check_free(port)
    scratch = session.state.scratch / safe_part(declared.name)
    parameters_file = scratch / "parameters.json"
    parameters_file.write_text(json.dumps(as_data(parameters), indent=2))
    notebook = Path(declared.spec.notebook).as_posix()
    token = secrets.token_hex(24)
    print(f"{declared.name}: {notebook} with the parameters of {_what(parameters)} injected "
          f"(never saved); outputs go to {scratch}\nstarting Jupyter ...", flush=True)
    command = [sys.executable, "-m", "jupyterlab", str(session.root / notebook),
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={session.root}",
               f"--ServerApp.contents_manager_class={CONTENTS_MANAGER}",
               f"--InjectingContentsManager.notebook={notebook}",
               f"--InjectingContentsManager.parameters_file={parameters_file}",
               *([] if browser else ["--no-browser"]),
               *([] if verbose else ["--ServerApp.log_level=ERROR",
                                     "--LabApp.log_level=ERROR"]),
               # Jupyter refuses root unless told; containers often run as root, and the
               # server listens on the loopback only, behind a token.
               *(["--allow-root"] if os.geteuid() == 0 else []),
               "--ServerApp.answer_yes=True"]  # Ctrl-C stops it, without a y/n prompt
    # The token travels in the environment: a command line is visible to every local user.
    jupyter = subprocess.Popen(command, cwd=session.root,
                               env={**os.environ, "JUPYTER_TOKEN": token})
    # Ctrl-C reaches Jupyter too, which stops; a SIGTERM or a closed terminal is passed on.
    # Either way this command ends when Jupyter does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, lambda number, _frame: jupyter.send_signal(number))
    if _listens(port, jupyter):
        print(f"Jupyter: http://127.0.0.1:{port}/lab/tree/{quote(notebook)}?token={token}",
              flush=True)
    return jupyter.wait()


def _check_free(port: int) -> None:
    """A clear error where `port` is taken (often by another Jupyter on 8888), before it is
    waited on: an answer there would not be ours."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Jupyter binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise AssetbookError(f"port {port} on 127.0.0.1 is in use ({exc.strerror}): "
                                 "choose another with --port") from exc


def _listens(port: int, process: subprocess.Popen, timeout_s: float = START_TIMEOUT_S) -> bool:
    """Whether `process` accepts connections on `port` within `timeout_s` (False once it
    exits: its own error is on stderr)."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return process.poll() is None


def _what(parameters: dict[str, Any]) -> str:
    if "partitions" not in parameters:
        return f"candidate v{parameters['candidate_version']}"
    return describe_keys([entry["key"] for entry in parameters["partitions"]])
