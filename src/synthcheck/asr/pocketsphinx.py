"""CMU PocketSphinx 5 with the en-us model bundled in its wheel: fast, non-differentiable."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.audio.io import SAMPLE_RATE, int16_from_float, validate_audio
from synthcheck.errors import MissingComponentError


class PocketsphinxRecognizer(Recognizer):
    """PocketSphinx decoder (default en-us acoustic model, CMUdict and 3-gram LM); lower-case output."""

    name = "pocketsphinx"
    differentiable = False

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise MissingComponentError(
                "pocketsphinx is not installed; install it with: .venv/bin/pip install pocketsphinx==5.1.1"
            ) from None
        self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self._lock = threading.Lock()

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Decode each utterance (1-D float32 at 16 kHz) as one full utterance; silence gives ``""``."""
        return [self._decode(validate_audio(audio, allow_silent=True)) for audio in audios]

    def _decode(self, audio: np.ndarray) -> str:
        with self._lock:  # one decoder, not re-entrant
            self._decoder.start_utt()
            self._decoder.process_raw(int16_from_float(audio).tobytes(), full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
        return " ".join(hypothesis.hypstr.lower().split()) if hypothesis is not None else ""
