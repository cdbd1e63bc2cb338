"""The numbers a reader of ABS looks for, from an image run's typed records.

Definitions (one item = one evaluation test image, one attack stage = one attack at one budget or a
minimal-norm attack):

* **accuracy under attack** at ε: the fraction of images the classifier still gets right when the attacker may
  change each by at most ε in the stage's norm: the clean decision is right and the attack found no
  adversarial of size ≤ ε. A fixed-budget stage (``pgd-linf@0.3``) is read at its own ε; a minimal-norm stage
  (``cw-l2``) at every standard budget of its norm (:data:`BUDGETS`).
* **accuracy with the detector**: an input counts as handled if the classifier decides it correctly *or* the
  detector flags it (so a flagged clean mistake is handled; a flagged correct image costs nothing here but is
  a false positive, reported separately).
* **detection**: the detector's scores of successful adversarials against those of correctly classified
  clean images: AUC, the rate flagged at the calibrated threshold, and the rate at 5 % FPR on these clean
  images (the ROC's own operating point; optimistic, as it is read off the evaluation images).
* **perturbation needed to evade** (:class:`EvasionLadder`): an attack kind run at several fixed budgets of one
  norm (a *ladder*, e.g. ``adaptive-pgd-linf@0.1 … @0.4``) is read per image: it *evades* at ε when the attack
  at ε succeeded and the detector accepts the adversarial. Per budget, the evasion rate among the correctly
  classified clean images (Wilson 95 % interval); per image, the smallest ladder budget at which it evades
  (∞ if none), and their median — the adaptive attacks' against the non-adaptive ``pgd-*-targeted``'s.
* **Theorem 1.3 bound** (the paper's detection guarantee, in pixel space): an adversarial y for class t with
  ‖y − x‖ < min_{c ∈ X_t} ‖c − x‖ − r is flagged by a check that accepts y as t only within r of X_t. With
  the residual detector's acceptance radius r = −threshold and the search's nearest class-t codeword of the
  clean x, the triangle inequality makes this hold for *any* generator when the search is exact; an evasion
  below the bound therefore measures the latent search's failures, not the generator's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.detect.calibration import wilson_interval
from synthcheck.experiments.metrics import CALIBRATION_FPR, auc, median_finite, score_roc
from synthcheck.experiments.results import ItemRecord
from synthcheck.images.results import ImageAttackOutcome, ImageCleanResult

#: The standard budgets of each norm on [0, 1] pixels (MNIST literature: Madry et al., ABS).
BUDGETS = {"linf": (0.1, 0.2, 0.3), "l2": (1.0, 1.5, 2.0)}
#: The detector whose acceptance radius enters the Theorem 1.3 bound.
BOUND_DETECTOR = "residual"
#: Sizes are compared with the budget at this relative tolerance (8-bit quantisation, float32 norms).
_SIZE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class RobustAccuracy:
    """Accuracy of the classifier alone and with each detector under one attack stage at one budget."""

    stage: str
    norm: str
    epsilon: float
    n_images: int
    accuracy: float
    accuracy_with_detector: dict[str, float]


@dataclass(frozen=True)
class StageDetection:
    """One detector against one attack stage's successful adversarials.

    ``evasions`` counts successful adversarials the detector accepts; ``below_bound`` those of them smaller (L2)
    than their Theorem 1.3 bound (NaN bound: not computable, e.g. no residual detector in the run).
    """

    stage: str
    detector: str
    n_success: int
    median_l2: float
    median_linf: float
    auc: float
    detection_rate: float
    tpr_at_5_fpr: float
    evasions: int
    below_bound: int
    median_bound: float


@dataclass(frozen=True)
class EvasionLadder:
    """How much perturbation one attack kind needs to evade one detector: its fixed-budget stages of one norm.

    ``evasion_rates[k]`` (with ``intervals[k]``) is the fraction of the ``n_images`` correctly classified clean
    images whose attack at ``budgets[k]`` succeeded and was accepted; ``median_needed`` the median over those
    images of the smallest budget at which each evades (``inf`` when at most half of them evade at any budget);
    ``evaded_any`` the fraction that evades at some budget of the ladder.
    """

    kind: str
    norm: str
    detector: str
    budgets: tuple[float, ...]
    evasion_rates: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]
    n_images: int
    median_needed: float
    evaded_any: float

    @property
    def needed_label(self) -> str:
        """``median_needed`` as reports show it: ``"> <largest budget>"`` when it is infinite."""
        return f"> {max(self.budgets):g}" if math.isinf(self.median_needed) else f"{self.median_needed:g}"


@dataclass(frozen=True)
class ImageMetrics:
    """Everything :mod:`synthcheck.report` shows for an image run."""

    n_images: int
    clean_accuracy: float
    clean_flagged: dict[str, float]
    radius: float
    accuracy: list[RobustAccuracy]
    detection: list[StageDetection]
    ladders: list[EvasionLadder]

    def detection_of(self, stage: str, detector: str) -> StageDetection:
        """The detection row of ``stage`` and ``detector``."""
        return next(d for d in self.detection if d.stage == stage and d.detector == detector)


def stage_budget(stage: str) -> float:
    """ε of a fixed-budget stage name ``attack@ε``; NaN for a minimal-norm stage."""
    _, at, budget = stage.partition("@")
    return float(budget) if at else math.nan


def image_metrics(records: Sequence[ItemRecord], detectors: Sequence[str],
                  order: Sequence[str] = ()) -> ImageMetrics:
    """The metrics of an image run's records (items without a clean result are left out), stages in the
    ``order`` given (the config's), then any other stored stage in the order first stored."""
    items = [r for r in records if isinstance(r.clean, ImageCleanResult)]
    cleans = [r.clean for r in items]
    radius = _radius(cleans)
    stored = list(dict.fromkeys(stage for r in items for stage in r.attacks))
    stages = [stage for stage in order if stage in stored] + [stage for stage in stored if stage not in order]
    accuracy, detection = [], []
    for stage in stages:
        pairs = [(r.clean, r.attacks.get(stage)) for r in items]
        norm = next(o.norm for _, o in pairs if o is not None)
        budget = stage_budget(stage)
        for epsilon in (budget,) if math.isfinite(budget) else BUDGETS.get(norm, ()):
            accuracy.append(_robust_accuracy(stage, norm, epsilon, pairs, detectors))
        detection.extend(_detection(stage, name, pairs, radius) for name in detectors)
    return ImageMetrics(
        n_images=len(items),
        clean_accuracy=_mean([c.correct for c in cleans]),
        clean_flagged={name: _mean([not c.detectors[name].consistent for c in cleans if c.correct]) for name in detectors},
        radius=radius, accuracy=accuracy, detection=detection, ladders=evasion_ladders(items, stages, detectors),
    )


def evasion_ladders(records: Sequence[ItemRecord], stages: Sequence[str],
                    detectors: Sequence[str]) -> list[EvasionLadder]:
    """The :class:`EvasionLadder` of every attack kind with at least two fixed-budget ``stages``, per detector
    (records with an image clean result; kinds in the order of their first stage)."""
    by_kind: dict[str, list[tuple[float, str]]] = {}
    for stage in stages:
        if math.isfinite(stage_budget(stage)):
            by_kind.setdefault(stage.partition("@")[0], []).append((stage_budget(stage), stage))
    correct = [r for r in records if r.clean.correct]
    ladders = []
    for kind, rungs in by_kind.items():
        if len(rungs) < 2 or not correct:
            continue
        rungs.sort()
        budgets = tuple(budget for budget, _ in rungs)
        norm = next(o.norm for r in correct for _, stage in rungs if (o := r.attacks.get(stage)) is not None)
        for name in detectors:
            evaded = np.array([[_evades(r.attacks.get(stage), name) for _, stage in rungs] for r in correct])
            needed = np.where(evaded.any(1), np.array(budgets)[evaded.argmax(1)], math.inf)
            counts = evaded.sum(0)
            ladders.append(EvasionLadder(
                kind=kind, norm=norm, detector=name, budgets=budgets,
                evasion_rates=tuple(float(c) / len(correct) for c in counts),
                intervals=tuple(wilson_interval(int(c), len(correct)) for c in counts), n_images=len(correct),
                median_needed=float(np.median(needed)), evaded_any=float(evaded.any(1).mean())))
    return ladders


def _evades(outcome: ImageAttackOutcome | None, detector: str) -> bool:
    return outcome is not None and outcome.success and outcome.detectors[detector].consistent


def theorem_bound(clean: ImageCleanResult, target: int, radius: float) -> float:
    """min_{c ∈ X_target} ‖c − x‖ − r for the clean image of ``clean`` (its searched class distances)."""
    if not 0 <= target < len(clean.class_distances):
        return math.nan
    return clean.class_distances[target] - radius


def _radius(cleans: Sequence[ImageCleanResult]) -> float:
    """The residual detector's acceptance radius r = −threshold (NaN when the run has no residual detector)."""
    for clean in cleans:
        if BOUND_DETECTOR in clean.detectors:
            return -clean.detectors[BOUND_DETECTOR].threshold
    return math.nan


def _robust_accuracy(stage: str, norm: str, epsilon: float,
                     pairs: Sequence[tuple[ImageCleanResult, ImageAttackOutcome | None]],
                     detectors: Sequence[str]) -> RobustAccuracy:
    correct, handled = [], {name: [] for name in detectors}
    for clean, outcome in pairs:
        broken = outcome is not None and outcome.success and _size(outcome, norm) <= epsilon * (1 + _SIZE_TOLERANCE)
        judged = outcome if broken else clean
        right = clean.correct and not broken
        correct.append(right)
        for name in detectors:
            handled[name].append(right or not judged.detectors[name].consistent)
    return RobustAccuracy(stage, norm, epsilon, len(pairs), _mean(correct),
                          {name: _mean(values) for name, values in handled.items()})


def _detection(stage: str, name: str, pairs: Sequence[tuple[ImageCleanResult, ImageAttackOutcome | None]],
               radius: float) -> StageDetection:
    clean_scores = [c.detectors[name].score for c, _ in pairs if c.correct]
    won = [(c, o) for c, o in pairs if o is not None and o.success and c.correct]
    scores = [o.detectors[name].score for _, o in won]
    fpr, tpr = score_roc(clean_scores, scores)
    evading = [(c, o) for c, o in won if o.detectors[name].consistent]
    bounds = [theorem_bound(c, o.predicted, radius) for c, o in evading]
    return StageDetection(
        stage=stage, detector=name, n_success=len(won),
        median_l2=median_finite([o.l2 for _, o in won]), median_linf=median_finite([o.linf for _, o in won]),
        auc=auc(fpr, tpr), detection_rate=_mean([not o.detectors[name].consistent for _, o in won]),
        tpr_at_5_fpr=_tpr_at(fpr, tpr, CALIBRATION_FPR), evasions=len(evading),
        below_bound=sum(o.l2 < b for (_, o), b in zip(evading, bounds) if math.isfinite(b)),
        median_bound=median_finite([theorem_bound(c, o.predicted, radius) for c, o in won]),
    )


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The highest TPR at an FPR ≤ ``target`` on the ROC (NaN for an empty curve)."""
    if fpr.size == 0:
        return math.nan
    return float(tpr[fpr <= target + 1e-12].max())


def _size(outcome: ImageAttackOutcome, norm: str) -> float:
    return outcome.l2 if norm == "l2" else outcome.linf


def _mean(values: Sequence[bool]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


__all__ = ["BUDGETS", "EvasionLadder", "ImageMetrics", "RobustAccuracy", "StageDetection", "evasion_ladders",
           "image_metrics", "stage_budget", "theorem_bound"]
