"""A run's headline tables as Markdown (``synthcheck report RUN --markdown``): per detector, then per sentence.

These are the tables a README or a paper's reader wants: for each detector its detection rate and its clean
flags split into true false positives (exact transcripts) and detected recognition errors; for each sentence
the transcripts and the primary detector's scores and verdicts. Text cells are escaped for Markdown tables
(``|`` and newlines), since transcripts are attacker-controlled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.metrics import ALL_DATASETS, DetectorMetrics
from synthcheck.experiments.results import DetectorScore, ResultRow


def detector_markdown(detectors: Sequence[DetectorMetrics]) -> str:
    """One row per detector of the whole run: threshold, detection rate, clean flags (exact / misrecognised), AUC."""
    head = ("detector", "threshold", "adversarial flagged", "clean flagged: exact transcript (false positives)",
            "clean flagged: misrecognised (errors detected)", "AUC")
    rows = [
        (d.detector, _num(d.threshold, 3), _count(d.detection_rate, d.calibrated.n_attacked),
         f"{d.flagged_exact}/{d.n_clean_exact}", f"{d.flagged_misrecognized}/{d.n_clean_misrecognized}",
         _num(d.calibrated.auc, 2))
        for d in detectors if d.dataset == ALL_DATASETS
    ]
    return _table(head, rows)


def sentence_markdown(config: ExperimentConfig, rows: Sequence[ResultRow]) -> str:
    """One row per item and attack kind: sentence, t1 and its WER, the primary detector's clean and adversarial
    scores and verdicts, t2, dB_x and SNR of the perturbation."""
    primary = config.primary_detector
    head = ("#", "sentence", "t1 = ASR(y1)", "WER t1", f"{primary} clean", "clean flagged", "t2 = ASR(y2)",
            f"{primary} adversarial", "adversarial flagged", "dB_x", "SNR dB")
    lines = []
    for r in rows:
        clean = r.clean.detectors.get(primary) if r.clean else None
        attack = r.attack.detectors.get(primary) if r.attack else None
        lines.append((
            str(r.spec.index + 1), r.spec.sentence,
            r.clean.transcript if r.clean else "", _num(r.clean.wer if r.clean else None, 2),
            _num(clean.score if clean else None, 3), _flag(clean),
            (r.attack.transcript + ("" if r.attack.success else " (attack failed)")) if r.attack else "",
            _num(attack.score if attack else None, 3), _flag(attack),
            _num(r.attack.db_x if r.attack else None, 1), _num(r.attack.snr_db if r.attack else None, 1),
        ))
    return _table(head, lines)


def run_markdown(config: ExperimentConfig, rows: Sequence[ResultRow], detectors: Sequence[DetectorMetrics]) -> str:
    """Both tables, detectors first."""
    return f"{detector_markdown(detectors)}\n\n{sentence_markdown(config, rows)}\n"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _count(rate: float, total: int) -> str:
    return "–" if not math.isfinite(rate) else f"{round(rate * total)}/{total}"


def _flag(verdict: DetectorScore | None) -> str:
    return "" if verdict is None else ("no" if verdict.consistent else "**yes**")


__all__ = ["detector_markdown", "run_markdown", "sentence_markdown"]
