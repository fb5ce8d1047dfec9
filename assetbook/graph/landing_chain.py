"""What one landed file is taken through in its landing sensor's run.

Each hop from the landing sensor to automation and back costs a sensor tick and a new run's
process (~20 s on two cores). The day's own assets (validation, features, drift) read
nothing but that day, so they go in the run that lands it; automation takes over from the
first asset that reads more than one day (a window, every day) or waits on a schedule.
"""

from __future__ import annotations

from assetbook.spec.loader import DeclaredAsset, ProjectSpec
from assetbook.spec.models import EagerAutomationSpec, SameInputSpec

# Run tag of a landing sensor's runs (and of their relaunches): the source whose file it lands.
LANDING_RUN_TAG = "assetbook/landing_run"


def landing_chain(project: ProjectSpec, source: str) -> list[str]:
    """The source and the assets below it, in graph order, each of whose steps is eager and
    reads only the same partition of the source or of the chain's other assets. A notebook
    writing several assets joins only with all of them (a run cannot split its step)."""
    partitions = project.assets[source].spec.partitions
    chain = [source]
    grown = True
    while grown:
        grown = False
        for step in project.steps:
            written = project.written_by(step)
            if written[0].name not in chain and all(
                    _reads_only_the_day(d, partitions, chain) for d in written):
                chain.extend(d.name for d in written)
                grown = True
    return chain


def _reads_only_the_day(declared: DeclaredAsset, partitions: str | None,
                        chain: list[str]) -> bool:
    spec = declared.spec
    return (spec.partitions == partitions and isinstance(spec.automation, EagerAutomationSpec)
            and bool(spec.inputs) and set(spec.dependencies) <= set(chain)
            and all(isinstance(m, SameInputSpec) for m in spec.inputs.values()))
