"""Speech recognisers behind one interface."""

from synthcheck.asr.base import DifferentiableRecognizer, Recognizer, require_differentiable
from synthcheck.asr.registry import RECOGNIZERS, get_recognizer

__all__ = ["RECOGNIZERS", "DifferentiableRecognizer", "Recognizer", "get_recognizer", "require_differentiable"]
