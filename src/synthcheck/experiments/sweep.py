"""Sweeps: one experiment over a grid of voices and SNRs, with metrics per (voice, SNR) cell.

A sweep is an :class:`ExperimentConfig` with several voices and/or SNRs; it runs like any experiment
(one store, one executor fan-out over all items) and its report adds a table of per-cell metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

from synthcheck.errors import BadInputError
from synthcheck.experiments.metrics import ExperimentMetrics, compute_metrics
from synthcheck.experiments.store import ItemRecord


def parse_list(text: str, *, name: str) -> tuple[str, ...]:
    """Split a comma-separated option value (``"en-US,en-GB"``), refusing empty entries."""
    values = tuple(part.strip() for part in text.split(","))
    if not values or any(not v for v in values):
        raise BadInputError(f"--{name}: give a comma-separated list without empty entries, got {text!r}")
    if len(set(values)) != len(values):
        raise BadInputError(f"--{name}: duplicate entries in {text!r}")
    return values


def parse_float_list(text: str, *, name: str) -> tuple[float, ...]:
    """Comma-separated numbers (``"20,28,40"``)."""
    try:
        return tuple(float(v) for v in parse_list(text, name=name))
    except ValueError:
        raise BadInputError(f"--{name}: expected comma-separated numbers such as 20,28,40, got {text!r}") from None


def group_metrics(records: Sequence[ItemRecord], threshold: float) -> dict[str, ExperimentMetrics]:
    """Metrics of each (voice, SNR) cell, keyed by :attr:`ItemSpec.group`, in item order."""
    groups: dict[str, list[ItemRecord]] = {}
    for record in records:
        groups.setdefault(record.spec.group, []).append(record)
    return {group: compute_metrics(items, threshold) for group, items in groups.items()}


__all__ = ["group_metrics", "parse_float_list", "parse_list"]
