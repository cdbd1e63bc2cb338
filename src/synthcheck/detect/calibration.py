"""Choosing and evaluating the decision threshold.

An input is *flagged* (judged inconsistent, i.e. possibly adversarial) when its score is strictly below the
threshold; a score equal to the threshold counts as consistent (same rule as :class:`Verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from synthcheck.errors import BadInputError


def calibrate_threshold(clean_scores: Sequence[float] | np.ndarray, target_fpr: float = 0.05) -> float:
    """The largest threshold whose false-positive rate on ``clean_scores`` is at most ``target_fpr``.

    With ``n`` clean scores sorted ascending as ``s[0] <= … <= s[n-1]`` and ``m = floor(target_fpr * n)``,
    the answer is ``s[m]``: at most ``m`` scores lie strictly below it, and any larger threshold would flag
    ``s[m]`` too. Ties: scores equal to the threshold are not flagged, so with ties at ``s[m]`` the realised
    rate can be below the target, never above it.

    Raises
    ------
    BadInputError
        No scores, non-finite scores, or ``target_fpr`` outside [0, 1).
    """
    scores = _scores(clean_scores, "clean scores")
    if not 0.0 <= target_fpr < 1.0:
        raise BadInputError(f"target false-positive rate must be in [0, 1), got {target_fpr}")
    allowed = math.floor(target_fpr * scores.size + 1e-9)
    return float(np.sort(scores)[allowed])


def false_positive_rate(clean_scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """Fraction of clean (benign) inputs flagged: ``mean(score < threshold)``."""
    return _flagged_fraction(_scores(clean_scores, "clean scores"), threshold)


def detection_rate(attack_scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """Fraction of adversarial inputs flagged: ``mean(score < threshold)``."""
    return _flagged_fraction(_scores(attack_scores, "attack scores"), threshold)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (default 95 %) of a binomial rate ``successes / trials``, e.g. a measured FPR.

    Raises
    ------
    BadInputError
        ``trials < 1`` or ``successes`` outside ``[0, trials]``.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise BadInputError(f"Wilson interval: need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    rate, spread = successes / trials, z * z / trials
    centre = (rate + spread / 2) / (1 + spread)
    half = z * math.sqrt(rate * (1 - rate) / trials + spread / (4 * trials)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def _flagged_fraction(scores: np.ndarray, threshold: float) -> float:
    return float(np.mean(scores < threshold))


def _scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if scores.size == 0:
        raise BadInputError(f"{name}: no scores given")
    if not np.all(np.isfinite(scores)):
        raise BadInputError(f"{name}: contains NaN or infinite values")
    return scores
