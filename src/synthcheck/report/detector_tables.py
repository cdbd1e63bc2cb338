"""The tables of the detector evaluations, as (head, rows) — rendered as Markdown here and as HTML by
:mod:`synthcheck.report.detectors_report` (one definition of every column for both).

Undefined numbers (NaN) show as "–"; text cells are escaped for Markdown tables (``|`` and newlines), since
targets and transcripts are attacker-controlled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from synthcheck.experiments.attack_evaluation import EvasionRow, StageSummary
from synthcheck.experiments.metrics import DetectorEvaluation
from synthcheck.theory.theorem13 import Theorem13Row

#: How a missing or undefined number is shown.
MISSING = "–"
#: A table: its column heads and its rows of cell texts.
Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def evaluation_table(evaluations: Sequence[DetectorEvaluation]) -> Table:
    """One row per evaluation: config, source (and stage), counts, AUC, calibrated threshold, FPRs, detection,
    latency."""
    head = ("config", "source", "clean", "attacked", "AUC", "threshold", "FPR (in-sample)", "FPR (leave-one-out)",
            "detection", "latency s/s")
    rows = [(e.config, _source(e), str(e.n_clean), str(e.n_attacked), num(e.auc, 3), num(e.threshold, 3),
             pct(e.fpr), pct(e.fpr_loo), pct(e.detection_rate), num(e.latency_per_second, 3)) for e in evaluations]
    return head, rows


def stage_table(stages: Sequence[StageSummary]) -> Table:
    """One row per attack stage and source: successes, median distortion of the successes, steps, seconds."""
    head = ("stage", "source", "success", "median dB_x", "median SNR (dB)", "steps", "seconds")
    rows = [(s.stage, s.source, f"{s.successes}/{s.n}", num(s.median_db_x, 1), num(s.median_snr_db, 1), str(s.steps),
             num(s.seconds, 0)) for s in stages]
    return head, rows


def evasion_table(evasion: Sequence[EvasionRow]) -> Table:
    """One row per adaptive stage, source and detector: evasions at the source's threshold, of them within the
    non-adaptive budget, their medians, and evasions at the detector's configured threshold."""
    head = ("stage", "source", "detector", "evaded", "within the non-adaptive budget", "median dB_x",
            "median SNR (dB)", "evaded at the configured threshold")
    rows = [(r.stage, r.source, r.detector, f"{r.evaded}/{r.n}", f"{r.within_budget}/{r.n}", num(r.median_db_x, 1),
             num(r.median_snr_db, 1), f"{r.evaded_configured}/{r.n}") for r in evasion]
    return head, rows


def theorem13_table(estimates: Sequence[Theorem13Row]) -> Table:
    """One row per attacked clip: r, the distance to the target's renderings, the margin and the margin as an SNR."""
    head = ("stage", "source", "clip", "target", "r", "min‖c−x‖", "margin", "margin as SNR (dB)")
    rows = [(r.stage, r.source, r.key, r.target, num(r.radius, 3), num(r.distance, 3), num(r.margin, 3),
             _margin_snr(r)) for r in estimates]
    return head, rows


def markdown(table: Table) -> str:
    """``table`` as a Markdown table."""
    head, rows = table
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals; :data:`MISSING` for None, NaN and ±inf."""
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A rate as a percentage with one decimal; :data:`MISSING` when undefined."""
    return MISSING if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _source(e: DetectorEvaluation) -> str:
    text = f"{e.source} / {e.stage}" if e.stage else e.source
    return f"{text} (proxy)" if e.proxy else text


def _margin_snr(row: Theorem13Row) -> str:
    if not math.isfinite(row.margin):
        return MISSING
    return "vacuous (≤ 0)" if row.margin_snr_db is None else num(row.margin_snr_db, 1)


def _cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


__all__ = ["MISSING", "Table", "evaluation_table", "evasion_table", "markdown", "num", "pct", "stage_table",
           "theorem13_table"]
