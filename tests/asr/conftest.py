"""Shared fixtures of the recogniser tests."""

import pytest

from synthcheck.asr.whisper import WhisperRecognizer


@pytest.fixture(scope="session")
def tiny() -> WhisperRecognizer:
    """Whisper tiny.en from the packaged weights (loaded once per session)."""
    return WhisperRecognizer.load("tiny.en")
