"""Numbers the paper prints: detection rate, false-positive rate, ROC/AUC, attack distortion.

Scores are rho_max in [0, 1]; a *low* score means "inconsistent", i.e. adversarial. The ROC therefore
ranks items by ``-score`` with adversarial examples as positives and clean items as negatives
(:func:`score_roc`, the one ROC behind every AUC here).

Two records describe one detector configuration on one set of clips. :class:`DetectorEvaluation` holds what
its clean and attacked scores alone give (AUC, a threshold calibrated for a target FPR, in-sample and
leave-one-out FPR, detection rate); ``evaluate-detectors`` reports it as is. :class:`DetectorMetrics`, a row of
``reproduce``, carries one as ``calibrated`` and adds only what a run's stored verdicts know: the configured
threshold and the rates at it. Both live here, beside the ROC they use, so that
:mod:`synthcheck.experiments.detector_evaluation` (running detectors on clips) and the run report share
one implementation without an import cycle.

Metrics read the typed rows of a run (:class:`~synthcheck.experiments.results.ResultRow`, one per item and
attack kind); every stage result holds each configured detector's verdict, and :func:`detector_metrics` gives
one :class:`DetectorMetrics` row per configuration (and per dataset / attack kind when the rows mix them). A
clean item attacked by several kinds counts once among the clean items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthcheck.detect.calibration import calibrate_threshold, detection_rate, false_positive_rate
from synthcheck.experiments.results import CleanResult, DetectorScore, ResultRow
from synthcheck.jsonable import json_safe

#: False-positive rate calibrated thresholds aim at (:func:`evaluation_from_scores`' default, :class:`DetectorMetrics`).
CALIBRATION_FPR = 0.05
#: The ``dataset`` of a :class:`DetectorMetrics` row over all records.
ALL_DATASETS = "all"


def roc_curve(labels: np.ndarray, decision: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC of a decision value (higher = more likely positive), ties handled as one threshold.

    Parameters
    ----------
    labels
        Boolean array, ``True`` for positives.
    decision
        Decision values, same length.

    Returns
    -------
    fpr, tpr, thresholds
        Starting at (0, 0) with threshold +inf and ending at (1, 1). Empty arrays if either class is empty.
    """
    labels = np.asarray(labels, dtype=bool)
    decision = np.asarray(decision, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    order = np.argsort(-decision, kind="mergesort")
    d, y = decision[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(d)), d.size - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = last_of_tie + 1 - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return fpr, tpr, np.r_[np.inf, d[last_of_tie]]


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a ROC curve (trapezoid rule); NaN for an empty curve."""
    return float(np.trapezoid(tpr, fpr)) if len(fpr) > 1 else math.nan


def score_roc(clean_scores: Sequence[float], attacked_scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """ROC of attacked (positive) against clean (negative) scores, ranked by ``-score`` (low score = flagged).

    Parameters
    ----------
    clean_scores, attacked_scores
        Detector scores of clean and of adversarial items.

    Returns
    -------
    fpr, tpr
        The curve of :func:`roc_curve`; empty arrays if either list is empty.
    """
    clean, attacked = np.asarray(clean_scores, np.float64), np.asarray(attacked_scores, np.float64)
    labels = np.r_[np.zeros(clean.size, bool), np.ones(attacked.size, bool)]
    fpr, tpr, _ = roc_curve(labels, -np.r_[clean, attacked])
    return fpr, tpr


@dataclass
class ExperimentMetrics:
    """Summary of a set of finished items (all numbers NaN when undefined, e.g. no successful attack)."""

    n_items: int
    n_clean: int
    n_attacked: int
    n_attack_success: int
    attack_success_rate: float
    detection_rate: float
    detection_rate_all_attacks: float
    false_positive_rate: float
    auc: float
    median_snr_db: float
    median_db_x: float
    n_clean_recognized: int
    n_clean_misrecognized: int
    false_positives_recognized: int
    false_positives_misrecognized: int
    threshold: float
    roc_fpr: list[float] = field(default_factory=list)
    roc_tpr: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes ``None``."""
        return json_safe(asdict(self))


def compute_metrics(rows: Sequence[ResultRow], threshold: float) -> ExperimentMetrics:
    """Metrics over the rows' finished stages (the primary detector's verdicts).

    Detection rate counts *successful* adversarial examples flagged as inconsistent
    (``detection_rate_all_attacks`` counts every attacked item). The false-positive rate counts clean
    channel outputs flagged; clean items are also split by whether the recogniser was right
    (WER 0 after normalisation), since natural recognition errors give low scores too.
    """
    clean = list(_clean_results(rows).values())
    attacked = [r.attack for r in rows if r.attack is not None]
    successful = [a for a in attacked if a.success]
    fpr, tpr = score_roc([c.score for c in clean], [a.score for a in successful])
    recognized = [c for c in clean if c.exact]
    misrecognized = [c for c in clean if not c.exact]
    return ExperimentMetrics(
        n_items=len({r.spec.key for r in rows}),
        n_clean=len(clean),
        n_attacked=len(attacked),
        n_attack_success=len(successful),
        attack_success_rate=_rate(len(successful), len(attacked)),
        detection_rate=_flagged_rate([a.primary for a in successful]),
        detection_rate_all_attacks=_flagged_rate([a.primary for a in attacked]),
        false_positive_rate=_flagged_rate([c.primary for c in clean]),
        auc=auc(fpr, tpr),
        median_snr_db=median_finite([a.snr_db for a in successful]),
        median_db_x=median_finite([a.db_x for a in successful]),
        n_clean_recognized=len(recognized),
        n_clean_misrecognized=len(misrecognized),
        false_positives_recognized=sum(not c.consistent for c in recognized),
        false_positives_misrecognized=sum(not c.consistent for c in misrecognized),
        threshold=threshold,
        roc_fpr=fpr.tolist(),
        roc_tpr=tpr.tolist(),
    )


def _clean_results(rows: Sequence[ResultRow]) -> dict[str, CleanResult]:
    """Each item's clean result once (rows repeat it per attack kind), by item key in row order."""
    return {r.spec.key: r.clean for r in rows if r.clean is not None}


@dataclass
class DetectorEvaluation:
    """Numbers for one configuration on one set of clean and attacked scores (NaN when undefined).

    Attributes
    ----------
    config, source, proxy
        Configuration name, the clips' source (or cell), and whether the attacked items are the
        wrong-transcript proxy rather than real attacks.
    stage
        The attack kind the attacked items come from (empty when not one kind: the proxy, or all kinds pooled).
    n_clean, n_attacked, clean_scores, attacked_scores
        The scores the numbers come from (negatives and positives).
    auc
        Area under :func:`score_roc`.
    threshold, target_fpr
        Threshold calibrated on the clean scores for ``target_fpr``
        (:func:`synthcheck.detect.calibrate_threshold`).
    fpr, fpr_loo, detection_rate
        At that threshold: the in-sample FPR (at most the target by construction), the honest leave-one-out
        FPR (:func:`leave_one_out_fpr`) and the share of attacked items flagged.
    latency_per_second
        Seconds of re-synthesis and comparison per second of audio (NaN when not measured).
    """

    config: str
    source: str
    proxy: bool
    n_clean: int
    n_attacked: int
    auc: float
    threshold: float
    target_fpr: float
    fpr: float
    fpr_loo: float
    detection_rate: float
    latency_per_second: float
    clean_scores: list[float] = field(default_factory=list)
    attacked_scores: list[float] = field(default_factory=list)
    stage: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(config, source, stage): what the evaluation is of."""
        return self.config, self.source, self.stage

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN as ``None``)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorEvaluation:
        """The inverse of :meth:`to_dict` (``None`` numbers back to NaN)."""
        kept = ("config", "source", "proxy", "stage", "clean_scores", "attacked_scores", "n_clean", "n_attacked")
        return cls(**{k: v if k in kept else (math.nan if v is None else v) for k, v in data.items()})


def leave_one_out_fpr(clean_scores: Sequence[float], target_fpr: float) -> float:
    """FPR when each clean score is judged with a threshold calibrated on all the others (NaN below two)."""
    scores = np.asarray(clean_scores, dtype=np.float64)
    if scores.size < 2:
        return math.nan
    flagged = [scores[i] < calibrate_threshold(np.delete(scores, i), target_fpr) for i in range(scores.size)]
    return float(np.mean(flagged))


def evaluation_from_scores(
    clean_scores: Sequence[float],
    attacked_scores: Sequence[float],
    *,
    config: str,
    source: str,
    proxy: bool,
    latency_per_second: float,
    target_fpr: float = CALIBRATION_FPR,
    stage: str = "",
) -> DetectorEvaluation:
    """AUC, calibrated threshold, FPRs and detection rate from clean and attacked scores (NaN when undefined).

    Parameters
    ----------
    clean_scores, attacked_scores
        Scores of the clean (negative) and attacked (positive) items.
    config, source, proxy, latency_per_second, stage
        Copied to the result (see :class:`DetectorEvaluation`).
    target_fpr
        False-positive rate the threshold is calibrated for.
    """
    clean, attacked = [float(s) for s in clean_scores], [float(s) for s in attacked_scores]
    nan = math.nan
    threshold = calibrate_threshold(clean, target_fpr) if clean else nan
    return DetectorEvaluation(
        config=config,
        source=source,
        proxy=proxy,
        n_clean=len(clean),
        n_attacked=len(attacked),
        auc=auc(*score_roc(clean, attacked)),
        threshold=threshold,
        target_fpr=target_fpr,
        fpr=false_positive_rate(clean, threshold) if clean else nan,
        fpr_loo=leave_one_out_fpr(clean, target_fpr),
        detection_rate=detection_rate(attacked, threshold) if clean and attacked else nan,
        latency_per_second=latency_per_second,
        clean_scores=clean,
        attacked_scores=attacked,
        stage=stage,
    )


@dataclass
class DetectorMetrics:
    """One detector configuration on one cell of a ``reproduce`` run; NaN when undefined.

    Attributes
    ----------
    threshold, detection_rate, false_positive_rate
        The configured threshold (NaN if the verdicts used several) and the stored verdicts' rates at it
        (successful attacks / clean items flagged).
    n_clean_exact, flagged_exact, n_clean_misrecognized, flagged_misrecognized
        Clean items split by whether the recogniser got the transcript exactly right (WER 0 after
        normalisation), and how many of each were flagged: a flag on a misrecognised clean item (the paper's
        "low blue circles") correctly detects a recognition error; a flag on an exact one is a true false positive.
    calibrated
        The evaluation of the cell's scores (successful adversarial examples against clean items): counts,
        AUC, and the threshold calibrated for :data:`CALIBRATION_FPR` with the rates at it. Its ``config`` and
        ``source`` are :attr:`detector` and :attr:`dataset`.
    """

    threshold: float
    detection_rate: float
    false_positive_rate: float
    n_clean_exact: int
    flagged_exact: int
    n_clean_misrecognized: int
    flagged_misrecognized: int
    calibrated: DetectorEvaluation

    @property
    def exact_flag_rate(self) -> float:
        """Share of exactly transcribed clean items flagged (true false positives)."""
        return _rate(self.flagged_exact, self.n_clean_exact)

    @property
    def misrecognized_flag_rate(self) -> float:
        """Share of misrecognised clean items flagged (recognition errors detected)."""
        return _rate(self.flagged_misrecognized, self.n_clean_misrecognized)

    @property
    def detector(self) -> str:
        """Configuration name as given in the config."""
        return self.calibrated.config

    @property
    def dataset(self) -> str:
        """The cell's dataset: :data:`ALL_DATASETS` or one dataset."""
        return self.calibrated.source

    @property
    def attack_kind(self) -> str:
        """The cell's attack kind (empty: every kind of the run)."""
        return self.calibrated.stage

    @property
    def cell(self) -> str:
        """The cell's display name: the dataset, with `` / <attack kind>`` when the row is of one kind."""
        return f"{self.dataset} / {self.attack_kind}" if self.attack_kind else self.dataset

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes ``None``): ``detector``, ``dataset``, ``attack_kind``, ``threshold``, ``detection_rate``,
        ``false_positive_rate``, the clean split (``n_clean_exact`` … ``flagged_misrecognized``) and
        ``calibrated`` (:meth:`DetectorEvaluation.to_dict`)."""
        return json_safe({"detector": self.detector, "dataset": self.dataset, "attack_kind": self.attack_kind,
                          "threshold": self.threshold,
                          "detection_rate": self.detection_rate, "false_positive_rate": self.false_positive_rate,
                          "n_clean_exact": self.n_clean_exact, "flagged_exact": self.flagged_exact,
                          "n_clean_misrecognized": self.n_clean_misrecognized,
                          "flagged_misrecognized": self.flagged_misrecognized,
                          "calibrated": self.calibrated.to_dict()})


def detector_metrics(rows: Sequence[ResultRow], detectors: Sequence[str]) -> list[DetectorMetrics]:
    """A row per detector over all rows, then per detector and cell when the rows mix datasets or attack kinds
    (cells are (dataset, attack kind) pairs; the kind is named only when the run has several)."""
    several_attacks = len({r.attack_kind for r in rows}) > 1

    def cell(row: ResultRow) -> tuple[str, str]:
        return row.spec.dataset, row.attack_kind if several_attacks else ""

    cells = list(dict.fromkeys(cell(r) for r in rows))
    out = [_detector_row(rows, name, (ALL_DATASETS, "")) for name in detectors]
    if len(cells) > 1:
        out += [_detector_row([r for r in rows if cell(r) == c], name, c) for c in cells for name in detectors]
    return out


def _detector_row(rows: Sequence[ResultRow], name: str, cell: tuple[str, str]) -> DetectorMetrics:
    pairs = [(c, c.detectors[name]) for c in _clean_results(rows).values() if name in c.detectors]
    clean = [score for _, score in pairs]
    exact = [score for c, score in pairs if c.exact]
    misrecognized = [score for c, score in pairs if not c.exact]
    adversarial = [r.attack.detectors[name] for r in rows
                   if r.attack is not None and r.attack.success and name in r.attack.detectors]
    thresholds = {s.threshold for s in clean + adversarial if math.isfinite(s.threshold)}
    dataset, kind = cell
    return DetectorMetrics(
        threshold=thresholds.pop() if len(thresholds) == 1 else math.nan,
        detection_rate=_flagged_rate(adversarial),
        false_positive_rate=_flagged_rate(clean),
        n_clean_exact=len(exact),
        flagged_exact=sum(not s.consistent for s in exact),
        n_clean_misrecognized=len(misrecognized),
        flagged_misrecognized=sum(not s.consistent for s in misrecognized),
        calibrated=evaluation_from_scores([s.score for s in clean], [s.score for s in adversarial], config=name,
                                          source=dataset, proxy=False, latency_per_second=math.nan, stage=kind),
    )


def _flagged_rate(scores: Sequence[DetectorScore]) -> float:
    return _rate(sum(not s.consistent for s in scores), len(scores))


def _rate(count: int, total: int) -> float:
    return count / total if total else math.nan


def median_finite(values: Sequence[float | None]) -> float:
    """The median of the finite values (None, NaN and ±inf left out); NaN when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


__all__ = [
    "ALL_DATASETS",
    "CALIBRATION_FPR",
    "DetectorEvaluation",
    "DetectorMetrics",
    "ExperimentMetrics",
    "auc",
    "compute_metrics",
    "detector_metrics",
    "evaluation_from_scores",
    "leave_one_out_fpr",
    "median_finite",
    "roc_curve",
    "score_roc",
]
