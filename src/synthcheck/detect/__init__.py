"""Consistency detection: comparators (by name in :mod:`~synthcheck.detect.registry`), the detector and its
verdicts, named configurations, calibration."""

from synthcheck.detect.calibration import calibrate_threshold, detection_rate, false_positive_rate
from synthcheck.detect.comparators import (
    Comparator,
    Comparison,
    CorrelationComparator,
    DifferentiableComparator,
    DifferentiableTranscriptComparator,
    PearsonComparator,
    TranscriptComparator,
)
from synthcheck.detect.configs import (
    DEFAULT_DETECTOR,
    DETECTOR_CONFIGS,
    DETECTOR_NAMES,
    DetectorConfig,
    build_detector,
    custom_config,
)
from synthcheck.detect.combined import AllOfDetector
from synthcheck.detect.detector import DEFAULT_THRESHOLD, ConsistencyDetector, Detector, Verdict
from synthcheck.detect.registry import COMPARATOR_CONFIGS, COMPARATORS, ComparatorConfig, get_comparator

__all__ = [
    "AllOfDetector",
    "COMPARATOR_CONFIGS",
    "COMPARATORS",
    "ComparatorConfig",
    "DEFAULT_DETECTOR",
    "DEFAULT_THRESHOLD",
    "DETECTOR_CONFIGS",
    "DETECTOR_NAMES",
    "Comparator",
    "Comparison",
    "ConsistencyDetector",
    "CorrelationComparator",
    "Detector",
    "DifferentiableComparator",
    "DifferentiableTranscriptComparator",
    "DetectorConfig",
    "PearsonComparator",
    "TranscriptComparator",
    "Verdict",
    "build_detector",
    "calibrate_threshold",
    "custom_config",
    "detection_rate",
    "false_positive_rate",
    "get_comparator",
]
