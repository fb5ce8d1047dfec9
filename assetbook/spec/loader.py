"""Load `assets/*.yaml` into one validated `ProjectSpec`.

Relative paths in specs (notebooks, landing folders) resolve from the project root, the folder
that holds `assets/`. All files share one namespace of asset and partition names, so an asset
may read an input declared in another file. A notebook with `outputs` is one step that writes
several assets: each output is an asset in that namespace, and so is the notebook's own name
(it names the step, e.g. for `assetbook notebook`).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError

from assetbook.errors import SpecError
from assetbook.kinds import BY_NAME, KINDS, AssetSpec
from assetbook.kinds.base import Fail
from assetbook.spec import models
from assetbook.spec.models import (
    NAME_PATTERN,
    DynamicPartitionsSpec,
    PartitionsSpec,
    SameInputSpec,
    Strict,
    WindowInputSpec,
)
from assetbook.spec.strict_yaml import DuplicateKeyError, load_strict


class PipelineFileSpec(Strict):
    """One `assets/*.yaml` file."""

    pipeline: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    partitions: dict[str, PartitionsSpec] = Field(default_factory=dict)
    assets: dict[Annotated[str, Field(pattern=NAME_PATTERN)], AssetSpec]


@dataclass(frozen=True)
class DeclaredAsset:
    """An entry of a file's `assets`, or one output of a notebook that writes several; an
    output's spec is the notebook's with the output's own fields (see `output_specs`)."""

    name: str
    spec: AssetSpec
    file: Path
    pipeline: str
    producer: str | None = None  # the notebook step that writes it among its `outputs`


@dataclass(frozen=True)
class ProjectSpec:
    root: Path
    assets: dict[str, DeclaredAsset]  # every asset of the graph: each output of a notebook too
    partitions: dict[str, PartitionsSpec]
    steps: dict[str, DeclaredAsset]  # what runs: each entry of the files' `assets`, built once

    def downstream_of(self, asset: str) -> list[str]:
        return [n for n, a in self.assets.items() if asset in a.spec.inputs]

    def below(self, assets: Iterable[str]) -> set[str]:
        """Every asset that reads any of `assets`, directly or through others."""
        found: set[str] = set()
        frontier = list(assets)
        while frontier:
            for name in self.downstream_of(frontier.pop()):
                if name not in found:
                    found.add(name)
                    frontier.append(name)
        return found

    def by_partitions(self) -> list[list[str]]:
        """The assets of each partitions definition, each with the unpartitioned ones: what
        one Dagster job may hold."""
        groups: dict[str | None, list[str]] = {}
        for name, declared in self.assets.items():
            groups.setdefault(declared.spec.partitions, []).append(name)
        unpartitioned = groups.pop(None, [])
        return [[*names, *unpartitioned] for names in groups.values()] or [unpartitioned]

    def notebooks(self, names: Iterable[str]) -> list[Path]:
        """The notebooks that materializing these assets runs."""
        found = [getattr(self.assets[n].spec, "notebook", None) for n in names if n in self.assets]
        return sorted({self.root / notebook for notebook in found if notebook is not None})

    def notebook_modules(self, names: Iterable[str], model_assets: Iterable[str] = ()) -> list[str]:
        """The modules that the notebook steps among these assets load beside their
        notebooks' own imports: the spec's `modules`, and the class of each model among
        `model_assets` (assets of any kind) that they read (an evaluation loads the candidate's)."""
        model_assets = set(model_assets)
        found: dict[str, None] = {}
        for name in names:
            spec = self.assets[name].spec if name in self.assets else None
            if getattr(spec, "notebook", None) is None:
                continue
            found.update(dict.fromkeys(spec.modules))
            found.update(dict.fromkeys(
                upstream_spec.model_module for upstream in model_assets & set(spec.inputs)
                if isinstance(upstream_spec := self.assets[upstream].spec,
                              models.ModelAssetSpec)))
        return list(found)

    def named(self, name: str) -> DeclaredAsset:
        """An asset, or else a step (a notebook writing several assets), by name."""
        return self.assets[name] if name in self.assets else self.steps[name]

    def written_by(self, step: str) -> list[DeclaredAsset]:
        """The assets a step writes: a notebook's outputs, or the asset itself."""
        return [d for d in self.assets.values() if (d.producer or d.name) == step]


def load_project(root: Path | str) -> ProjectSpec:
    """Read every `assets/*.yaml` under `root` and check the graph they declare."""
    root = Path(root).resolve()
    files = sorted((root / "assets").glob("*.y*ml"))
    if not files:
        raise SpecError(str(root / "assets"), "no *.yaml spec files found")
    assets: dict[str, DeclaredAsset] = {}
    steps: dict[str, DeclaredAsset] = {}
    partitions: dict[str, tuple[PartitionsSpec, Path]] = {}
    for path in files:
        parsed = _parse_file(path, root)
        for name, spec in parsed.partitions.items():
            if name in partitions:
                raise SpecError(_rel(path, root), f"partitions '{name}' already declared in "
                                f"{_rel(partitions[name][1], root)}", field="partitions")
            partitions[name] = (spec, path)
        for name, spec in parsed.assets.items():
            step = DeclaredAsset(name, spec, path, parsed.pipeline)
            written = [DeclaredAsset(output, output_spec, path, parsed.pipeline, producer=name)
                       for output, output_spec in spec.output_specs().items()] or [step]
            _check_names_free(step, written, {**steps, **assets}, root)
            steps[name] = step
            assets.update((declared.name, declared) for declared in written)
    project = ProjectSpec(root, assets, {k: v for k, (v, _) in partitions.items()}, steps)
    for declared in steps.values():
        _check_asset(project, declared)
    _check_acyclic(project)
    return project


def _check_names_free(step: DeclaredAsset, written: list[DeclaredAsset],
                      taken: dict[str, DeclaredAsset], root: Path) -> None:
    """A step's name and the assets it writes are new: an output named like any asset or step
    declared before it would make two things of one name."""
    for name in dict.fromkeys([step.name, *(declared.name for declared in written)]):
        if name not in taken:
            continue
        other = taken[name]
        where = _rel(other.file, root) + (f", as an output of '{other.producer}'"
                                          if other.producer else "")
        if name == step.name:
            raise SpecError(_rel(step.file, root), f"already declared in {where}", asset=name)
        raise SpecError(_rel(step.file, root), f"output '{name}' is already declared in "
                        f"{where}; asset and output names are one namespace: rename one",
                        asset=step.name, field=f"outputs.{name}")


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _parse_file(path: Path, root: Path) -> PipelineFileSpec:
    where = _rel(path, root)
    try:
        raw = load_strict(path.read_text())
    except DuplicateKeyError as exc:
        assert exc.problem_mark is not None
        raise SpecError(f"{where}, line {exc.problem_mark.line + 1}", exc.problem or "") from exc
    except yaml.YAMLError as exc:
        raise SpecError(where, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(where, "expected a mapping with `pipeline` and `assets`")
    try:
        return PipelineFileSpec.model_validate(raw)
    except ValidationError as exc:
        raise _spec_error(where, raw, exc) from exc


def _spec_error(where: str, raw: dict[str, Any], exc: ValidationError) -> SpecError:
    """Turn pydantic's first error into one that names the asset, the field and the fix."""
    # An unknown key is usually the typo behind a "missing" one: report it first.
    error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = [str(part) for part in error["loc"]]
    asset = loc[1] if len(loc) > 1 and loc[0] == "assets" else None
    # Walk the raw YAML along pydantic's path, skipping the union tags pydantic inserts.
    node: Any = raw
    parent: Any = None
    field_parts: list[str] = []
    entered = True  # just moved into `node`: the next part may be a union tag pydantic adds
    for part in loc:
        if entered and isinstance(node, dict) and any(node.get(t) == part for t in _TAGS):
            entered = False
            continue
        entered = True
        if isinstance(node, dict) and part in node:
            parent, node = node, node[part]
            field_parts.append(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            parent, node = node, node[int(part)]
            field_parts.append(part)
        elif part == loc[-1] and error["type"] in ("missing", "extra_forbidden"):
            field_parts.append(part)
    field = ".".join(field_parts[2:] if asset else field_parts) or None
    if error["type"] == "extra_forbidden":
        allowed = _allowed_fields(parent if isinstance(parent, dict) else {}, loc[-1])
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        message = f"unknown field '{loc[-1]}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
        if allowed:
            message += f" Allowed: {', '.join(allowed)}."
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "union_tag_invalid":
        tag_field, message = _unknown_tag(**error["ctx"])
        if isinstance(node, dict) and tag_field in node:  # `kind: notbook`, not a shorthand
            field = ".".join(filter(None, [field, tag_field]))
    elif error["type"].startswith("union_tag"):
        message = error["msg"]
    else:
        message = f"{error['msg']} (got {error.get('input')!r})"
    return SpecError(where, message, asset=asset, field=field)


_TAGS = ("kind", "type", "mapping")


def _unknown_tag(discriminator: str, tag: str, expected_tags: str) -> tuple[str, str]:
    """The field and the message for pydantic's "Input tag 'notbook' found using 'kind' does
    not match any of the expected tags: ...", said as other unknown names are: closest first."""
    name = discriminator.strip("'")
    allowed = [t.strip().strip("'") for t in expected_tags.split(",")]
    hint = difflib.get_close_matches(tag, allowed, n=1)
    return name, (f"unknown {name} '{tag}'" + (f"; did you mean '{hint[0]}'?" if hint else ".")
                  + f" Allowed: {', '.join(allowed)}.")


def _allowed_fields(parent: dict[str, Any], unknown: str) -> list[str]:
    """The fields of the spec model that matches the mapping holding an unknown key; when
    several match (a mapping with few keys), the first with a field close to the unknown."""
    known = set(parent) - {unknown}
    tags = [tag for tag in _TAGS if tag in parent]
    matching = []
    for model in _spec_models():
        fields = model.model_fields
        names = {field.alias or name for name, field in fields.items()}
        if not known <= names or any(tag in names and tag not in tags for tag in _TAGS):
            continue
        if all(tag in fields and parent[tag] in get_args(fields[tag].annotation) for tag in tags):
            matching.append(sorted(names))
    close = [names for names in matching if difflib.get_close_matches(unknown, names, n=1)]
    return (close or matching or [[]])[0]


def _spec_models() -> list[type[BaseModel]]:
    """Every spec model a mapping of a file can be: the shared ones, then those of each kind's
    home (its asset spec and the parts only it has, such as a notebook's outputs); bases that
    only lend fields to others are left out."""
    homes = [models, *(sys.modules[kind.spec.__module__] for kind in KINDS)]
    found = dict.fromkeys(m for home in homes for m in vars(home).values()
                          if isinstance(m, type) and issubclass(m, Strict) and m is not Strict)
    return [*(m for m in found if not any(o is not m and issubclass(o, m) for o in found)),
            PipelineFileSpec]


def _check_asset(project: ProjectSpec, declared: DeclaredAsset) -> None:
    spec, where = declared.spec, _rel(declared.file, project.root)

    def fail(message: str, field: str) -> SpecError:
        return SpecError(where, message, asset=declared.name, field=field)

    if spec.partitions and spec.partitions not in project.partitions:
        raise fail(f"unknown partitions '{spec.partitions}'; declared: "
                   f"{', '.join(sorted(project.partitions)) or 'none'}", "partitions")
    for upstream, mapping in spec.inputs.items():
        if upstream in project.steps and upstream not in project.assets:
            outputs = ", ".join(d.name for d in project.written_by(upstream))
            raise fail(f"'{upstream}' is a notebook that writes several assets; read one of "
                       f"them: {outputs}", f"inputs.{upstream}")
        if upstream not in project.assets:
            hint = difflib.get_close_matches(upstream, list(project.assets), n=1)
            raise fail(f"unknown input '{upstream}'"
                       + (f"; did you mean '{hint[0]}'?" if hint else "")
                       + f" Declared assets: {', '.join(sorted(project.assets))}.",
                       f"inputs.{upstream}")
        _check_mapping(project, declared, upstream, mapping, fail)
    outputs = [d for d in project.written_by(declared.name) if d.producer]
    for field, automation in [("automation", spec.automation),
                              *((f"outputs.{d.name}.automation", d.spec.automation)
                                for d in outputs)]:
        for trigger in automation.on_failed_checks:
            if trigger not in project.assets:
                raise fail(f"unknown asset '{trigger}'; declared assets: "
                           f"{', '.join(sorted(project.assets))}", f"{field}.on_failed_checks")
    drift_assets = [n for n, d in project.assets.items() if d.spec.kind == "drift"]
    for upstream, mapping in spec.inputs.items():
        drift = getattr(mapping, "after_drift", None)
        if drift and drift not in drift_assets:
            raise fail(f"'{drift}' is not a drift asset; declared drift assets: "
                       f"{', '.join(drift_assets) or 'none'}", f"inputs.{upstream}.after_drift")
    BY_NAME[spec.kind].rules(project, declared, fail)


def _check_mapping(project: ProjectSpec, declared: DeclaredAsset, upstream: str, mapping: Any,
                   fail: Fail) -> None:
    field = f"inputs.{upstream}.mapping"
    mine, theirs = declared.spec.partitions, project.assets[upstream].spec.partitions
    if isinstance(mapping, SameInputSpec) and mine != theirs:
        raise fail(f"'same' needs both assets on the same partitions; '{declared.name}' has "
                   f"{mine or 'none'}, '{upstream}' has {theirs or 'none'}. Use 'all' or "
                   "'window' to read many partitions.", field)
    if isinstance(mapping, WindowInputSpec):
        if theirs is None:
            raise fail(f"'window' needs a partitioned input; '{upstream}' is unpartitioned", field)
        if mine is not None and isinstance(project.partitions[theirs], DynamicPartitionsSpec):
            raise fail("a 'window' over dynamic partitions is only allowed for an "
                       "unpartitioned asset (it reads the last N keys)", field)
        if mine is not None and mine != theirs:
            raise fail(f"'window' between different partitions ('{mine}' and '{theirs}') "
                       "is not supported", field)


def _check_acyclic(project: ProjectSpec) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            declared = project.assets[name]
            raise SpecError(_rel(declared.file, project.root),
                            f"inputs form a cycle: {' -> '.join(cycle)}",
                            asset=declared.producer or name, field="inputs")
        state[name] = "visiting"
        for upstream in project.assets[name].spec.dependencies:
            visit(upstream, path + [name])
        state[name] = "done"

    for name in project.assets:
        visit(name, [])
