"""Speech recognisers behind one interface, by name in :mod:`~synthcheck.asr.registry`."""

from synthcheck.asr.base import DifferentiableRecognizer, Recognizer, require_differentiable
from synthcheck.asr.registry import RECOGNIZER_CONFIGS, RECOGNIZERS, RecognizerConfig, get_recognizer

__all__ = [
    "RECOGNIZERS",
    "RECOGNIZER_CONFIGS",
    "DifferentiableRecognizer",
    "Recognizer",
    "RecognizerConfig",
    "get_recognizer",
    "require_differentiable",
]
