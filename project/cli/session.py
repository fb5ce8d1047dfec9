"""A project opened from the command line: its specs, state folder, Dagster home and instance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import dagster as dg

from project.build import build_definitions
from project.build.context import BuildContext
from project.build.sensors import landing_sources
from project.build.sources import landing_folder
from project.errors import AssetbookError
from project.resources.state import PROJECT_ENV, StateFolder
from project.spec import DeclaredAsset, ProjectSpec, load_project
from project.spec.models import LandingSourceSpec, SourceAssetSpec


@dataclass
class Session:
    root: Path

    @cached_property
    def project(self) -> ProjectSpec:
        return load_project(self.root)

    @cached_property
    def state(self) -> StateFolder:
        return StateFolder.for_project(self.root)

    @cached_property
    def defs(self) -> dg.Definitions:
        return build_definitions(self.project, self.state)

    def environ(self) -> dict[str, str]:
        """Variables that point Dagster and the code location at this project."""
        home = self.state.prepare_dagster_home()
        return {"DAGSTER_HOME": str(home), PROJECT_ENV: str(self.root)}

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        os.environ.update(self.environ())
        return dg.DagsterInstance.get()

    def simulated_source(self, name: str | None = None) -> tuple[DeclaredAsset, Path]:
        """The landing source `simulate` writes to: the one named, or the only one."""
        ctx = BuildContext(self.project, self.state)
        candidates = [d for d in landing_sources(ctx) if name in (None, d.name)
                      and landing_spec(d).simulator is not None]
        if len(candidates) != 1:
            names = ", ".join(d.name for d in landing_sources(ctx)) or "none"
            raise AssetbookError(f"name one landing source with a `simulator` (found: {names})")
        declared = candidates[0]
        return declared, landing_folder(ctx, declared.name, landing_spec(declared))


def landing_spec(declared: DeclaredAsset) -> LandingSourceSpec:
    """The landing settings of a source asset known to be a landing source."""
    assert isinstance(declared.spec, SourceAssetSpec)
    assert isinstance(declared.spec.source, LandingSourceSpec)
    return declared.spec.source
