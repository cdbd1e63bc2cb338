"""The synthesiser interface: 'decompression' from a label (text) back to a signal."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Take:
    """One rendering of a text: which voice (``engine:voice`` id), at which tape speed, and the audio."""

    voice: str
    speed: float
    audio: np.ndarray


class Synthesizer(ABC):
    """Text-to-speech: text in, 16 kHz mono float32 audio in [-1, 1] out."""

    #: Engine name, e.g. ``"pico2wave"``.
    engine: str = "tts"
    #: Voice identifier within the engine, e.g. ``"en-US"``.
    voice: str = ""

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Render ``text``; raise :class:`~synthcheck.errors.BadInputError` for empty/unspeakable text."""

    def render_takes(self, text: str) -> list[Take]:
        """Every rendering of ``text`` a detector should compare against (default: one take at speed 1).

        Synthesisers that search over nuisance parameters (voices, speeds) return one take per setting;
        the consistency detector keeps the take closest to its input.
        """
        return [Take(self.id, 1.0, self.synthesize(text))]

    @property
    def id(self) -> str:
        """``engine:voice``, the name used in configs and reports."""
        return f"{self.engine}:{self.voice}"
