"""Built-in example inputs: the first two clauses of *A Tale of Two Cities*, read by a person (the LibriVox
recording in the ``moonshine-voice`` wheel) or spoken by pico2wave through the paper's channel (attenuation 0.5,
AWGN at 28 dB, 16 bits: :func:`synthcheck.audio.channel.paper_channel`).
``synthcheck detect`` uses one of them when no file is given (``--example human|tts``)."""

from __future__ import annotations

import numpy as np

from synthcheck.audio.channel import paper_channel
from synthcheck.tts.pico2wave import Pico2Wave

_SENTENCE = "It was the best of times, it was the worst of times."


def example_sentence() -> str:
    """The example's text: "It was the best of times, it was the worst of times."."""
    return _SENTENCE


def human_example_audio() -> np.ndarray:
    """The example sentence as the LibriVox reader says it: the first two clauses of the reading, cut at the
    alignment's clause boundaries (:mod:`synthcheck.data.alignment`) and joined back (2 x ~2.4 s)."""
    from synthcheck.data.datasets import load_dataset

    first, second = load_dataset("two-cities-human")[:2]
    return np.concatenate([first.audio, second.audio])


def example_audio(seed: int = 0) -> np.ndarray:
    """The example sentence rendered by pico2wave (en-US, cached) through the paper's channel
    (:func:`~synthcheck.audio.channel.paper_channel`), its noise seeded by ``seed``."""
    clean = Pico2Wave("en-US").synthesize(_SENTENCE)
    return paper_channel().apply(clean, np.random.default_rng(seed))
