"""Threshold calibration and the flagged-fraction rates."""

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
