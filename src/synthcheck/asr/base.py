"""The recogniser interface: the classifier q = g∘h of the paper's channel picture."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Recognizer(ABC):
    """Speech recogniser: 16 kHz mono float32 audio in, English text out.

    Subclasses implement :meth:`transcribe_batch`. Recognisers that expose gradients set
    ``differentiable = True`` and subclass :class:`synthcheck.asr.whisper.WhisperRecognizer`'s
    interface (``loss`` and ``would_decode_to``); attacks check the flag and fail early.
    """

    #: Registry name, e.g. ``"pocketsphinx"`` or ``"whisper-base"``.
    name: str = "recognizer"
    #: Whether ``loss``/``would_decode_to`` with gradients to the waveform are available.
    differentiable: bool = False

    @abstractmethod
    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Transcribe several utterances (each 1-D float32 at 16 kHz)."""

    def transcribe(self, audio: np.ndarray) -> str:
        """Transcribe one utterance (1-D float32 at 16 kHz)."""
        return self.transcribe_batch([audio])[0]
