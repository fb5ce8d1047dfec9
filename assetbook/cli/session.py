"""A project opened from the command line: its specs, state folder, Dagster home and instance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assetbook.atomic import StorePath
from assetbook.errors import AssetbookError
from assetbook.kinds.source.landing import landing_folder, landing_sources, landing_spec
from assetbook.resources.importable import make_importable
from assetbook.resources.state import StateFolder
from assetbook.spec.loader import DeclaredAsset, ProjectSpec, load_project

if TYPE_CHECKING:
    import dagster as dg


@dataclass
class Session:
    root: Path

    @cached_property
    def project(self) -> ProjectSpec:
        make_importable(self.root)
        return load_project(self.root)

    @cached_property
    def state(self) -> StateFolder:
        return StateFolder.for_project(self.root)

    @cached_property
    def defs(self) -> dg.Definitions:
        from assetbook.graph import build_definitions  # Dagster: not for `simulate`

        return build_definitions(self.project, self.state)

    def environ(self) -> dict[str, str]:
        """Variables that point Dagster at this project's home."""
        home = self.state.prepare_dagster_home()
        return {"DAGSTER_HOME": str(home)}

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        import dagster as dg

        os.environ.update(self.environ())
        return dg.DagsterInstance.get()

    def landing_source(self, name: str | None = None, simulated: bool = False
                       ) -> tuple[DeclaredAsset, StorePath]:
        """A landing source and its folder: the one named, or the only one (with a
        `simulator` when `simulated`)."""
        sources = landing_sources(self.project)
        candidates = [d for d in sources if name in (None, d.name)
                      and (not simulated or landing_spec(d).simulator is not None)]
        if len(candidates) != 1:
            names = ", ".join(d.name for d in sources) or "none"
            wanted = "landing source with a `simulator`" if simulated else "landing source"
            if name is not None:
                raise AssetbookError(f"no {wanted} named '{name}' (the project's landing "
                                     f"sources: {names})")
            if simulated and not candidates:
                raise AssetbookError(f"no landing source has a `simulator` to make days with "
                                     f"(the project's: {names}): its days are the files "
                                     "landed in its folder")
            raise AssetbookError(f"several landing sources ({names}): name one")
        declared = candidates[0]
        return declared, landing_folder(self.project, self.state, declared.name,
                                        landing_spec(declared))
