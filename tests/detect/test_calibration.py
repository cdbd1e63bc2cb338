"""Threshold calibration and the flagged-fraction rates."""

import math
from fractions import Fraction

import numpy as np
import pytest

from synthcheck.detect import calibrate_threshold, detection_rate, false_positive_rate
from synthcheck.errors import BadInputError


def test_threshold_is_the_largest_meeting_the_target():
    clean = np.arange(1, 21) / 20.0  # 0.05 … 1.0, 20 scores
    threshold = calibrate_threshold(clean, target_fpr=0.1)  # two may be flagged
    assert threshold == pytest.approx(0.15)
    assert false_positive_rate(clean, threshold) == pytest.approx(0.1)
    # Any larger threshold exceeds the target.
    assert false_positive_rate(clean, np.nextafter(threshold, 1.0)) > 0.1


def test_zero_target_flags_nothing():
    clean = [0.7, 0.5, 0.9]
    threshold = calibrate_threshold(clean, target_fpr=0.0)
    assert threshold == 0.5 and false_positive_rate(clean, threshold) == 0.0


def test_ties_at_the_threshold_count_as_consistent():
    clean = [0.2, 0.5, 0.5, 0.5, 0.9]
    threshold = calibrate_threshold(clean, target_fpr=0.2)  # one may be flagged
    assert threshold == 0.5
    assert false_positive_rate(clean, threshold) == pytest.approx(0.2)
    threshold = calibrate_threshold(clean, target_fpr=0.4)  # two may be flagged, but the tie keeps it at 0.5
    assert threshold == 0.5 and false_positive_rate(clean, threshold) <= 0.4


def test_rounding_of_the_allowed_count_is_not_fooled_by_float_error():
    clean = np.linspace(0.0, 1.0, 100)
    threshold = calibrate_threshold(clean, target_fpr=0.29)  # 0.29 * 100 = 28.999999999999996
    assert false_positive_rate(clean, threshold) == pytest.approx(0.29)


def test_detection_rate_counts_scores_strictly_below():
    assert detection_rate([0.1, 0.3, 0.4, 0.8], 0.4) == 0.5


@pytest.mark.parametrize(("scores", "target"), [([], 0.05), ([0.5, np.nan], 0.05), ([0.5], 1.0), ([0.5], -0.1)])
def test_bad_calibration_input_is_refused(scores, target):
    with pytest.raises(BadInputError):
        calibrate_threshold(scores, target)


def documented_threshold(scores, target_fpr: float) -> float:
    """The rule of calibrate_threshold's docstring, in exact arithmetic: sorted scores s, m = floor(target * n), s[m]."""
    m = math.floor(Fraction(str(target_fpr)) * len(scores))
    return sorted(scores)[m]


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.29, 0.5, 0.95])
@pytest.mark.parametrize("n", [1, 7, 20, 21, 100, 333])
def test_calibrated_threshold_is_the_documented_order_statistic(n, target):
    rng = np.random.default_rng(n)
    scores = rng.uniform(0.0, 1.0, n).round(3).tolist()  # rounding makes ties likely
    threshold = calibrate_threshold(scores, target_fpr=target)
    assert threshold == documented_threshold(scores, target)
    # it meets the target, and the next larger score would not
    allowed = Fraction(str(target)) * n
    assert sum(s < threshold for s in scores) <= allowed
    larger = [s for s in scores if s > threshold]
    if larger:
        assert sum(s < min(larger) for s in scores) > allowed


@pytest.mark.slow
def test_configured_dtw_threshold_is_reproduced_from_the_clean_human_clips():
    """detect/configs.py: ``dtw`` 0.305, the 5 % FPR calibration on the 21 clean human clips Whisper base gets
    right (LibriVox clauses and alsa recordings, pooled). Recompute it from those clips' real scores."""
    from synthcheck.detect.configs import DETECTOR_CONFIGS
    from synthcheck.experiments.detector_evaluation import POOLED_HUMAN, human_speech_evaluation

    results = human_speech_evaluation("whisper-base", configs=["dtw"], sources=("two-cities-human", "alsa-human"))
    (pooled,) = [r for r in results if r.source == POOLED_HUMAN]
    assert pooled.n_clean == 21 and len(pooled.clean_scores) == 21
    assert pooled.threshold == documented_threshold(pooled.clean_scores, 0.05)  # the second lowest of 21
    assert round(pooled.threshold, 3) == DETECTOR_CONFIGS["dtw"].threshold


@pytest.mark.parametrize(("successes", "trials"), [(5, 100), (0, 20), (20, 20), (37, 950)])
def test_wilson_interval_solves_the_score_equation(successes, trials):
    from synthcheck.detect.calibration import wilson_interval

    z, rate = 1.959964, successes / trials
    low, high = wilson_interval(successes, trials)
    assert 0.0 <= low <= rate <= high <= 1.0
    # each endpoint p (unless clipped at 0 or 1) is where the score test is exactly at z: |rate - p| = z·sqrt(p(1-p)/n)
    for p in (low, high):
        if 0.0 < p < 1.0:
            assert abs(rate - p) == pytest.approx(z * math.sqrt(p * (1 - p) / trials), rel=1e-9)
    assert wilson_interval(5, 100) == pytest.approx((0.0215, 0.1118), abs=1e-4)  # the textbook example


def test_wilson_interval_rejects_impossible_counts():
    from synthcheck.detect.calibration import wilson_interval

    with pytest.raises(BadInputError, match="successes"):
        wilson_interval(3, 2)
