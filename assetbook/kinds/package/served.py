"""What a `package` asset serves, read from the graph: the model behind its champion, the
validate asset whose schema types a request, and the transform its service applies.

The package kind's rules resolve it once to check the spec; the package builder and
`assetbook ask` use the same answer, so the bento and the CLI agree on the request's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assetbook.errors import SpecError
from assetbook.kinds.train import TrainAssetSpec
from assetbook.kinds.validate import ValidateAssetSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import ProjectSpec

RUNTIME = "assetbook"  # references into Assetbook itself ship in its serving wheel


@dataclass(frozen=True)
class Served:
    train: str  # the train asset whose registered model the champion names
    validate: str  # the validate asset whose schema types a request
    schema: str  # its first schema check, `module:Name`: what it stores the data as
    target: str  # the model's target column: not part of a request
    model: str  # the model class, `module:Class`
    transform: str | None

    @property
    def packages(self) -> tuple[str, ...]:
        """The project's top-level packages the service imports: the bento carries them."""
        references = (self.schema, self.model, self.transform)
        tops = {ref.partition(":")[0].partition(".")[0] for ref in references if ref}
        return tuple(sorted(tops - {RUNTIME}))


def resolve_served(project: ProjectSpec, package: str) -> Served:
    """Raises a SpecError naming the package asset's field to fix."""
    declared = project.assets[package]
    spec = declared.spec
    # Not isinstance: this module is part of the package kind, imported before its spec exists.
    assert spec.kind == "package", f"'{package}' is a {spec.kind} asset"

    def fail(message: str, field: str) -> SpecError:
        file = declared.file
        where = file.relative_to(project.root) if file.is_relative_to(project.root) else file
        return SpecError(str(where), message, asset=package, field=field)

    (champion,) = spec.inputs
    trains = [n for n in project.assets[champion].spec.inputs
              if n in project.assets and isinstance(project.assets[n].spec, TrainAssetSpec)]
    if project.assets[champion].spec.kind != "promote" or len(trains) != 1:
        raise fail(f"'{champion}' is not a promote asset with one train input: a package "
                   "serves the champion a promote asset names", "inputs")
    train = project.assets[trains[0]].spec
    assert isinstance(train, TrainAssetSpec)
    validate = spec.service.schema_ or _only_validate_upstream(project, trains[0], fail)
    found = project.assets[validate].spec if validate in project.assets else None
    if not isinstance(found, ValidateAssetSpec) or not found.checks:
        validates = sorted(n for n, d in project.assets.items()
                           if isinstance(d.spec, ValidateAssetSpec))
        raise fail(f"'{validate}' is not a validate asset with a schema check; declared "
                   f"validate assets: {', '.join(validates) or 'none'}", "service.schema")
    return Served(trains[0], validate, found.checks[0].schema_, train.target, train.model,
                  spec.service.transform)


def _only_validate_upstream(project: ProjectSpec, asset: str,
                           fail: Callable[[str, str], SpecError]) -> str:
    upstream: set[str] = set()
    pending = [asset]
    while pending:
        for name in project.assets[pending.pop()].spec.inputs:
            if name not in upstream and name in project.assets:
                upstream.add(name)
                pending.append(name)
    found = sorted(n for n in upstream if isinstance(project.assets[n].spec, ValidateAssetSpec))
    if len(found) != 1:
        raise fail(f"found {len(found)} validate assets upstream of '{asset}' "
                   f"({', '.join(found) or 'none'}): name the one whose schema types a "
                   "request as `service: {schema: <asset>}`", "service.schema")
    return found[0]
