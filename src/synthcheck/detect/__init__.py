"""Consistency detection: comparators, the detector and its verdicts, threshold calibration."""

from synthcheck.detect.calibration import calibrate_threshold, detection_rate, false_positive_rate
from synthcheck.detect.comparators import COMPARATORS, Comparator, Comparison, CorrelationComparator, get_comparator
from synthcheck.detect.detector import DEFAULT_THRESHOLD, ConsistencyDetector, Verdict

__all__ = [
    "COMPARATORS",
    "DEFAULT_THRESHOLD",
    "Comparator",
    "Comparison",
    "ConsistencyDetector",
    "CorrelationComparator",
    "Verdict",
    "calibrate_threshold",
    "detection_rate",
    "false_positive_rate",
    "get_comparator",
]
