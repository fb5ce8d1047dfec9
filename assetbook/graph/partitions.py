"""Partition definitions and partition mappings from their specs."""

from __future__ import annotations

import dagster as dg

from assetbook.spec.models import (
    AllInputSpec,
    DailyPartitionsSpec,
    DynamicPartitionsSpec,
    InputSpec,
    MonthlyPartitionsSpec,
    PartitionsSpec,
    SameInputSpec,
)


def build_partitions_def(name: str, spec: PartitionsSpec) -> dg.PartitionsDefinition:
    if isinstance(spec, DynamicPartitionsSpec):
        return dg.DynamicPartitionsDefinition(name=name)
    kind = dg.DailyPartitionsDefinition if isinstance(spec, DailyPartitionsSpec) else (
        dg.MonthlyPartitionsDefinition)
    assert isinstance(spec, DailyPartitionsSpec | MonthlyPartitionsSpec)
    return kind(
        start_date=spec.start.isoformat(),
        end_date=spec.end.isoformat() if spec.end else None,
        end_offset=spec.end_offset,
    )


def build_partition_mapping(
    spec: InputSpec, downstream_partitioned: bool, upstream: dg.PartitionsDefinition | None
) -> dg.PartitionMapping | None:
    """Dagster's mapping for an input; a window under an unpartitioned asset reads all keys
    (the builder keeps the last N), since Dagster has no "last N" mapping of its own."""
    if upstream is None or isinstance(spec, SameInputSpec):
        return None
    if isinstance(spec, AllInputSpec) or not downstream_partitioned:
        return dg.AllPartitionMapping()
    return dg.TimeWindowPartitionMapping(
        start_offset=-(spec.lag + spec.size - 1), end_offset=-spec.lag
    )


def window_keys(ordered_keys: list[str], current: str | None, size: int, lag: int) -> list[str]:
    """The `size` keys that end `lag` keys before `current` (or before the end, if None)."""
    end = len(ordered_keys) if current is None else ordered_keys.index(current) + 1
    end -= lag
    return ordered_keys[max(0, end - size):max(0, end)]

