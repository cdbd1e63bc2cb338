"""The recogniser interfaces: the classifier q = g∘h of the paper's channel picture.

:class:`Recognizer` only transcribes. :class:`DifferentiableRecognizer` also exposes what white-box attacks,
adaptive judges and the theory need (tokenisation, the target length limit, the audio features h(x), and the
teacher-forced loss and success mask from one forward pass, with gradients to the waveform). Code that needs
gradients asks for them once with :func:`require_differentiable`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from synthcheck.asr.precision import checked_precision
from synthcheck.audio.io import validate_audio
from synthcheck.audio.windows import split_at_pauses
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    from torch import Tensor


_Self = TypeVar("_Self", bound="DifferentiableRecognizer")


class Recognizer(ABC):
    """Speech recogniser: 16 kHz mono float32 audio in, English text out.

    Subclasses implement :meth:`transcribe_batch`; recognisers with gradients subclass
    :class:`DifferentiableRecognizer` instead.
    """

    #: Registry name, e.g. ``"pocketsphinx"`` or ``"whisper-base"``.
    name: str = "recognizer"

    @abstractmethod
    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Transcribe several utterances (each 1-D float32 at 16 kHz)."""

    def transcribe_each(self, audios: Sequence[np.ndarray]) -> Iterator[tuple[int, str]]:
        """``(index, transcript)`` of every utterance, as soon as each is known (so a caller can act on the first
        while the rest decode); this default yields them one by one."""
        for i, audio in enumerate(audios):
            yield i, self.transcribe_batch([audio])[0]

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


class DifferentiableRecognizer(Recognizer):
    """A recogniser differentiable from the waveform to a target's loss (e.g. Whisper).

    Subclasses implement :meth:`tokenize`, :meth:`encode`, :meth:`loss_and_success` and set
    :attr:`max_target_tokens`; :meth:`loss` and :meth:`would_decode_to` follow from :meth:`loss_and_success`.
    """

    #: Most text tokens a target may have (the decoder's context minus its prefix and end token).
    max_target_tokens: int
    #: Precision of :meth:`loss_and_success` (:mod:`synthcheck.asr.precision`); decoding is always float32.
    precision: str = "fp32"

    def with_precision(self: _Self, precision: str) -> _Self:
        """A recogniser sharing this one's model and settings whose white-box passes run in ``precision``."""
        other = copy.copy(self)
        other.precision = checked_precision(precision)
        return other

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Text tokens of a target (no prefix, no end token)."""

    @abstractmethod
    def encode(self, audio: Tensor) -> Tensor:
        """Audio features h(x) ``[B, frames, d]`` of a waveform batch ``[B, T]`` (differentiable)."""

    @abstractmethod
    def loss_and_success(
        self, audio: Tensor, targets: Sequence[str], reduction: str = "none"
    ) -> tuple[Tensor, np.ndarray]:
        """Teacher-forced loss of each target and whether greedy decoding gives it, from ONE forward pass.

        Parameters
        ----------
        audio
            ``[B, T]`` waveform at 16 kHz (gradients flow back to it).
        targets
            One text per item.
        reduction
            ``"none"`` (loss ``[B]``), ``"mean"`` or ``"sum"``.

        Returns
        -------
        tuple
            The loss (mean cross-entropy over each target's tokens) and the per-item bool success mask.
        """

    def loss(self, audio: Tensor, targets: Sequence[str], reduction: str = "none") -> Tensor:
        """The loss of :meth:`loss_and_success` alone."""
        return self.loss_and_success(audio, targets, reduction=reduction)[0]

    def would_decode_to(self, audio: Tensor, targets: Sequence[str]) -> np.ndarray:
        """Whether greedy decoding of each item gives exactly its target (one forward pass without gradients)."""
        import torch

        with torch.no_grad():
            return self.loss_and_success(audio, targets)[1]


_Differentiable = TypeVar("_Differentiable", bound=DifferentiableRecognizer)


def require_differentiable(
    recognizer: Recognizer, what: str, instead: str = "", interface: type[_Differentiable] = DifferentiableRecognizer
) -> _Differentiable:
    """``recognizer`` if it implements ``interface`` (gradients), else one clear :class:`BadInputError`.

    Parameters
    ----------
    recognizer
        The recogniser to check.
    what
        Who needs the gradients, e.g. ``"TargetedAttack"`` (starts the message).
    instead
        Advice appended after the Whisper choices, e.g. ``", or skip the attack with --clean-only"``.
    interface
        The interface required: :class:`DifferentiableRecognizer` or a subclass (an attack's ``requires``).
    """
    if not isinstance(recognizer, interface):
        raise no_gradients_error(recognizer.name, what, instead)
    return recognizer


def white_box_recognizer(recognizer: Recognizer, precision: str) -> Recognizer:
    """``recognizer`` with its white-box passes in ``precision`` (unchanged when it has no gradients)."""
    if isinstance(recognizer, DifferentiableRecognizer):
        return recognizer.with_precision(precision)
    return recognizer


def no_gradients_error(name: str, what: str, instead: str = "") -> BadInputError:
    """The error of :func:`require_differentiable` for the recogniser called ``name``."""
    return BadInputError(f"{what} needs gradients (a differentiable recogniser) and {name!r} has none; "
                         f"use whisper-tiny.en or whisper-base{instead}")
