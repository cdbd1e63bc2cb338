"""Speech recognisers behind one interface."""

from synthcheck.asr.base import Recognizer
from synthcheck.asr.registry import RECOGNIZERS, get_recognizer

__all__ = ["RECOGNIZERS", "Recognizer", "get_recognizer"]
