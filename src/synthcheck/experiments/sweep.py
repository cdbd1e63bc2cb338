"""Sweeps: one experiment over a grid of voices and SNRs, with metrics per (voice, SNR) cell.

A sweep is an :class:`ExperimentConfig` with several voices, SNRs and/or attack kinds; it runs like any experiment
(one store, one executor fan-out over all items) and its report adds a table of per-cell metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

from synthcheck.errors import BadInputError
from synthcheck.experiments.metrics import ExperimentMetrics, compute_metrics
from synthcheck.experiments.results import ResultRow


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


def group_metrics(rows: Sequence[ResultRow], threshold: float) -> dict[str, ExperimentMetrics]:
    """Metrics of each (dataset, voice, SNR, attack kind) cell, keyed by its display name
    (:attr:`ResultRow.group`), in row order."""
    groups: dict[str, list[ResultRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return {group: compute_metrics(items, threshold) for group, items in groups.items()}


__all__ = ["group_metrics", "parse_float_list", "parse_list"]
