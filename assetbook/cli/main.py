"""`assetbook`: start a project, run the pipeline or one asset, open a notebook on real data,
start the UI, land simulated days, serve and roll back, and say where it all stands.

The flags are read before anything heavy is imported, so `--help` and a mistyped flag answer
at once."""

from __future__ import annotations

import os
import sys

from assetbook.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile:  # for this process and every process it starts (kernels, dagster dev)
        from assetbook.resources.profile import PROFILE_ENV

        os.environ[PROFILE_ENV] = args.profile
    if args.command == "stop":  # the specs and the state folder only: no Dagster
        from assetbook.cli.stop import stop_command

        return stop_command(args)
    if args.command == "simulate":  # the specs, the state folder and the simulator
        from assetbook.cli.simulate import simulate_command

        return simulate_command(args)
    from assetbook.cli.commands import run_command  # Dagster and the framework: seconds

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
