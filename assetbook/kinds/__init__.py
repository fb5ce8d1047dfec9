"""Asset kinds, one home each: `assetbook/kinds/<kind>/__init__.py` holds its spec model and
cross-asset rules (no Dagster), `asset.py` beside it its builder. Adding a kind is adding a
folder and one line to `KINDS`."""

from typing import Annotated, Union

from pydantic import Field

from assetbook.kinds import (
    deploy,
    drift,
    evaluate,
    live,
    notebook,
    package,
    promote,
    source,
    train,
    tune,
    validate,
)
from assetbook.kinds.base import Kind

KINDS: tuple[Kind, ...] = (
    source.KIND, validate.KIND, notebook.KIND, drift.KIND, train.KIND, tune.KIND,
    evaluate.KIND, promote.KIND, package.KIND, deploy.KIND, live.KIND,
)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}

# Every kind's spec, told apart by its `kind:` literal.
AssetSpec = Annotated[Union[tuple(kind.spec for kind in KINDS)],  # noqa: UP007
                      Field(discriminator="kind")]

__all__ = ["BY_NAME", "KINDS", "AssetSpec", "Kind"]
