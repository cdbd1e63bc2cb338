"""CMU PocketSphinx 5 with the en-us model bundled in its wheel: fast, non-differentiable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.audio.io import SAMPLE_RATE, int16_from_float, validate_audio
from synthcheck.errors import MissingComponentError


def decoder_class() -> type:
    """PocketSphinx's ``Decoder`` class; :class:`MissingComponentError` saying how to install it when absent."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise MissingComponentError(
            "pocketsphinx is not installed; install it with: .venv/bin/pip install pocketsphinx==5.1.1"
        ) from None
    return Decoder


class PocketsphinxRecognizer(Recognizer):
    """PocketSphinx decoder (default en-us acoustic model, CMUdict and 3-gram LM); lower-case output."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        self._decoder_class = decoder_class()

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Decode each utterance (1-D float32 at 16 kHz) as one full utterance; silence gives ``""``."""
        return [self._decode(validate_audio(audio, allow_silent=True)) for audio in audios]

    def _decode(self, audio: np.ndarray) -> str:
        # A fresh decoder per utterance (about 0.4 s): a reused one carries cepstral-normalisation and search
        # state from the previous utterance, so the same audio decoded twice gave different transcripts.
        decoder = self._decoder_class(samprate=SAMPLE_RATE, loglevel="FATAL")
        decoder.start_utt()
        decoder.process_raw(int16_from_float(audio).tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return " ".join(hypothesis.hypstr.lower().split()) if hypothesis is not None else ""
