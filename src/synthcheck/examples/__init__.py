"""A built-in example input: the first clause of *A Tale of Two Cities*, spoken by pico2wave through a 28 dB
AWGN channel. ``synthcheck detect`` uses it when no file is given."""

from __future__ import annotations

import numpy as np

from synthcheck.audio.channel import AwgnChannel
from synthcheck.tts.pico2wave import Pico2Wave

#: Signal-to-noise ratio of the example's channel (dB).
EXAMPLE_SNR_DB = 28.0
_SENTENCE = "It was the best of times, it was the worst of times."


def example_sentence() -> str:
    """The example's text: "It was the best of times, it was the worst of times."."""
    return _SENTENCE


def example_audio(seed: int = 0) -> np.ndarray:
    """The example sentence rendered by pico2wave (en-US, cached) after a 28 dB AWGN channel seeded by ``seed``."""
    clean = Pico2Wave("en-US").synthesize(_SENTENCE)
    return AwgnChannel(snr_db=EXAMPLE_SNR_DB).apply(clean, np.random.default_rng(seed))
