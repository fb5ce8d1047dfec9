"""The reliability ledger: every reliability test records what it tried, and the session ends
with one table (cases tried, faults injected, data lost, bad models promoted, 5xx answers).
The last three must be 0; a test that sees one fails, and the table shows where. Under
pytest-xdist each worker fills its own ledger; tests/conftest.py merges them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

COLUMNS = ("cases", "faults", "data_lost", "bad_promoted", "server_errors")


@dataclass
class Ledger:
    rows: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(COLUMNS, 0)))

    def record(self, area: str, cases: int = 1, faults: int = 0, data_lost: int = 0,
               bad_promoted: int = 0, server_errors: int = 0) -> None:
        row = self.rows[area]
        for name, value in zip(COLUMNS, (cases, faults, data_lost, bad_promoted,
                                         server_errors), strict=True):
            row[name] += value

    def table(self) -> str:
        header = f"{'area':<28}" + "".join(f"{c:>14}" for c in COLUMNS)
        lines = [header, "-" * len(header)]
        totals = dict.fromkeys(COLUMNS, 0)
        for area, row in sorted(self.rows.items()):
            lines.append(f"{area:<28}" + "".join(f"{row[c]:>14}" for c in COLUMNS))
            for column in COLUMNS:
                totals[column] += row[column]
        lines.append(f"{'total':<28}" + "".join(f"{totals[c]:>14}" for c in COLUMNS))
        return "\n".join(lines)


LEDGER = Ledger()


def merge(rows: dict[str, dict[str, int]]) -> None:
    """Add a worker's rows (sent as JSON) to this process's ledger."""
    for area, row in rows.items():
        LEDGER.record(area, **row)
