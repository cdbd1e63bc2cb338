"""Recognisers by name (imports are lazy: torch is only loaded for Whisper)."""

from __future__ import annotations

from functools import lru_cache

from synthcheck.asr.base import Recognizer
from synthcheck.errors import BadInputError

RECOGNIZERS = ("whisper-tiny.en", "whisper-base", "pocketsphinx")


@lru_cache(maxsize=4)
def get_recognizer(name: str) -> Recognizer:
    """Return a (cached) recogniser: ``whisper-tiny.en``, ``whisper-base`` or ``pocketsphinx``."""
    if name == "pocketsphinx":
        from synthcheck.asr.pocketsphinx import PocketsphinxRecognizer

        return PocketsphinxRecognizer()
    if name.startswith("whisper-"):
        from synthcheck.asr.whisper import WhisperRecognizer

        if name in RECOGNIZERS:
            return WhisperRecognizer.load(name.removeprefix("whisper-"))
    raise BadInputError(f"unknown recogniser {name!r}; choose one of: {', '.join(RECOGNIZERS)}")
