"""A small project that is not the loans example: sklearn's wine data (13 measurements,
3 cultivars), its pandera schema in the project's own package, and a model trained on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_wine

from assetbook.runners.training.fit import TrainingJob, fit
from assetbook.spec.models import TrainerSpec

SCHEMA = '''\
"""Wine samples: the 13 measurements of sklearn's wine data and the cultivar."""

import pandera.pandas as pa
from pandera.typing import Series


class WineSamples(pa.DataFrameModel):
{fields}
    target: Series[int] = pa.Field(isin=[0, 1, 2])
'''

# A transform that divides by a field the schema lets be 0, as users' transforms do: a row's
# hue is kept as it is, but a hue of 0 becomes NaN (0 / 0).
FEATURES = '''\
"""The served transform."""

import pandas as pd


def hue_kept(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(hue=frame["hue"] / frame["hue"] * frame["hue"])
'''


def wine_frame() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    return frame.rename(columns=lambda name: name.replace("/", "_"))


def write_project(root: Path) -> Path:
    """`root/project/` with the schema and a transform; returns the model file trained on
    the data."""
    frame = wine_frame()
    fields = "\n".join(f"    {name}: Series[float] = pa.Field(ge=0, le={frame[name].max() * 2})"
                       for name in frame.columns if name != "target")
    package = root / "project"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The wine project\'s Python."""\n')
    (package / "schemas.py").write_text(SCHEMA.format(fields=fields))
    (package / "features.py").write_text(FEATURES)
    data = root / "wine.parquet"
    frame.to_parquet(data)
    model_file = root / "model.pt"
    fit(TrainingJob("assetbook.models:TabularNet", "target", (str(data),),
                    TrainerSpec(max_epochs=5, batch_size=32), output=str(model_file)))
    return model_file
