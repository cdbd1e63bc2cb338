"""Consistency without TTS: how well does an independent recogniser explain the audio given the transcript?

An adversarial perturbation is tuned to one recogniser. A second, independent Whisper model (e.g. tiny.en
when the attacked model is base) still hears the original words, so it finds the attacker's transcript
unlikely. Score (documented range [0, 1]):

    score = exp(−L),   L = mean over the transcript's tokens (end-of-text included) of −log p(token | audio, previous tokens)

i.e. the geometric-mean probability per token under teacher forcing: ~0.5–0.9 for a correct transcript,
near 0 for a transcript of other words.

It judges the transcript directly (``needs_rendering = False``), so the detector renders nothing::

    ConsistencyDetector(recognizer, None, LikelihoodComparator("tiny.en"))

Both models are differentiable, so the score also exists in torch (:meth:`LikelihoodComparator.torch_penalty`):
an adaptive attacker's penalty ``−log score`` is exactly the independent model's teacher-forced loss.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from synthcheck.asr.registry import RECOGNIZERS, get_recognizer
from synthcheck.detect.comparators import Comparison, DifferentiableTranscriptComparator
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from synthcheck.asr.whisper import WhisperRecognizer


class LikelihoodComparator(DifferentiableTranscriptComparator):
    """Teacher-forced likelihood of the transcript under an independent Whisper model; score = exp(−mean CE).

    Parameters
    ----------
    whisper_size
        Whisper size of the independent recogniser (``"tiny.en"`` or ``"base"``), loaded on first use
        (shared with :func:`synthcheck.asr.registry.get_recognizer`). ``name`` is ``"likelihood-<whisper_size>"``.
    """

    score_range = (0.0, 1.0)

    def __init__(self, whisper_size: str = "tiny.en") -> None:
        if f"whisper-{whisper_size}" not in RECOGNIZERS:
            raise BadInputError(f"unknown Whisper size {whisper_size!r} for the likelihood comparator; "
                                "choose tiny.en or base")
        self.whisper_size = whisper_size
        self.name = f"likelihood-{whisper_size}"

    @property
    def recognizer(self) -> WhisperRecognizer:
        """The independent :class:`~synthcheck.asr.whisper.WhisperRecognizer` (loaded once per process)."""
        return get_recognizer(f"whisper-{self.whisper_size}")  # type: ignore[return-value]

    def score_checked(self, audio: np.ndarray, transcript: str) -> Comparison:
        """Score how well the independent Whisper explains ``audio`` as ``transcript`` (checked input)."""
        import torch

        with torch.no_grad():
            loss = float(self.recognizer.loss(torch.from_numpy(audio)[None, :], [transcript])[0])
        return Comparison(score=math.exp(-loss), lag=None, details={"model": self.recognizer.name, "token_loss": loss})

    def torch_penalty(
        self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The independent Whisper's teacher-forced cross-entropy of each transcript (exactly ``−log score``;
        Whisper zero-pads anyway, so ``lengths`` is not needed) and ``exp(−CE)`` in float64, from one forward
        pass of that model."""
        import torch

        loss = self.recognizer.loss(audio, transcripts, reduction="none")
        return loss, torch.exp(-loss.detach().double()).numpy()

    def torch_score(self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``exp(−CE)`` of the independent Whisper per row of ``audio``."""
        import torch

        return torch.exp(-self.torch_penalty(audio, transcripts)[0])
