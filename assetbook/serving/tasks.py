"""The tasks a model can have, apart from how their targets are encoded (serving/target.py),
so the command line lists them without importing pandas."""

from typing import Literal, get_args

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = get_args(Task)
