"""The recogniser interface: the classifier q = g∘h of the paper's channel picture."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from synthcheck.audio.io import validate_audio
from synthcheck.audio.windows import split_at_pauses


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

    def transcribe(self, audio: np.ndarray, progress: Callable[[int, int], None] | None = None) -> str:
        """Transcribe one recording of any length (1-D float32 at 16 kHz).

        Recordings longer than 30 s (Whisper's input) are cut at pauses (:func:`~synthcheck.audio.windows.split_at_pauses`)
        and the windows' transcripts joined with spaces; ``progress(done, total)`` is called after each window.
        """
        audio = validate_audio(audio, allow_silent=True)
        windows = split_at_pauses(audio)
        texts = []
        for done, window in enumerate(windows, start=1):
            texts.append(self.transcribe_batch([window])[0])
            if progress is not None:
                progress(done, len(windows))
        return " ".join(text for text in texts if text)
