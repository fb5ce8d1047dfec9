"""`assetbook simulate`: land simulated days. The specs, the state folder and the simulator
only: without Dagster and the graph it takes ~0.6 CPU-s instead of ~1.9."""

from __future__ import annotations

import argparse

from assetbook.cli.output import Output, with_output
from assetbook.cli.session import Session
from assetbook.kinds.source.landing import landing_spec
from assetbook.runners.simulator import land_days, load_generator


def simulate_command(args: argparse.Namespace) -> int:
    """Land `--days` more days of the source's simulator; the exit status."""
    session = Session(args.project.resolve())

    def land(output: Output) -> int:
        keys = simulate(session, args.days, args.source)
        output.out.print(f"landed {len(keys)} day(s): {', '.join(keys)}", markup=False)
        return 0

    return with_output(session, args.command, args.verbose, land)


def simulate(session: Session, days: int, source: str | None = None,
             rows: int | None = None) -> list[str]:
    """Land `days` more simulated days (of `rows` rows, default: the spec's); their keys."""
    declared, folder = session.landing_source(source, simulated=True)
    simulator = landing_spec(declared).simulator
    assert simulator is not None
    return [p.stem for p in land_days(folder, load_generator(simulator, rows), simulator.start,
                                      days)]
