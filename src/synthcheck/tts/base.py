"""The synthesiser interface: 'decompression' from a label (text) back to a signal."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Synthesizer(ABC):
    """Text-to-speech: text in, 16 kHz mono float32 audio in [-1, 1] out."""

    #: Engine name, e.g. ``"pico2wave"``.
    engine: str = "tts"
    #: Voice identifier within the engine, e.g. ``"en-US"``.
    voice: str = ""

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Render ``text``; raise :class:`~synthcheck.errors.BadInputError` for empty/unspeakable text."""

    @property
    def id(self) -> str:
        """``engine:voice``, the name used in configs and reports."""
        return f"{self.engine}:{self.voice}"
