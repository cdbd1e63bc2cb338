"""Consistency without TTS: how well does an independent recogniser explain the audio given the transcript?

An adversarial perturbation is tuned to one recogniser. A second, independent Whisper model (e.g. tiny.en
when the attacked model is base) still hears the original words, so it finds the attacker's transcript
unlikely. Score (documented range [0, 1]):

    score = exp(−L),   L = mean over the transcript's tokens (end-of-text included) of −log p(token | audio, previous tokens)

i.e. the geometric-mean probability per token under teacher forcing: ~0.5–0.9 for a correct transcript,
near 0 for a transcript of other words.

It plugs into an unchanged :class:`~synthcheck.detect.detector.ConsistencyDetector` through
:class:`TranscriptOnly`, a "synthesiser" that renders nothing and only hands the transcript on::

    ConsistencyDetector(recognizer, TranscriptOnly(), LikelihoodComparator("tiny.en"))

(It also works behind :class:`~synthcheck.detect.voice_search.VoiceSearch`, which carries the text too.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from synthcheck.audio.io import validate_audio
from synthcheck.detect.comparators import Comparator, Comparison
from synthcheck.detect.voice_search import Renderings
from synthcheck.errors import BadInputError
from synthcheck.tts.base import Synthesizer

if TYPE_CHECKING:
    from synthcheck.asr.whisper import WhisperRecognizer


class TranscriptOnly(Synthesizer):
    """Renders no audio: returns an empty :class:`Renderings` carrying the text (for transcript comparators)."""

    engine = "none"
    voice = "transcript"

    def synthesize(self, text: str) -> Renderings:
        """An empty array whose ``text`` is ``text``."""
        if not text.strip():
            raise BadInputError("empty transcript: nothing to judge")
        return Renderings.from_takes(text, [])


class LikelihoodComparator(Comparator):
    """Teacher-forced likelihood of the transcript under an independent Whisper model; score = exp(−mean CE).

    Parameters
    ----------
    judge
        Whisper size of the independent recogniser (``"tiny.en"`` or ``"base"``), loaded on first use.
    """

    score_range = (0.0, 1.0)

    def __init__(self, judge: str = "tiny.en") -> None:
        self.judge = judge
        self.name = f"likelihood({judge})"
        self._recognizer: WhisperRecognizer | None = None

    @property
    def recognizer(self) -> WhisperRecognizer:
        """The judging :class:`~synthcheck.asr.whisper.WhisperRecognizer` (loaded once)."""
        if self._recognizer is None:
            from synthcheck.asr.whisper import WhisperRecognizer

            self._recognizer = WhisperRecognizer.load(self.judge)
        return self._recognizer

    def score_transcript(self, observed: np.ndarray, transcript: str) -> Comparison:
        """Score how well the judge explains ``observed`` as ``transcript``."""
        import torch

        audio = validate_audio(observed, name="observed audio")
        if not transcript.strip():
            raise BadInputError("empty transcript: nothing to judge")
        with torch.no_grad():
            loss = float(self.recognizer.loss(torch.from_numpy(audio)[None, :], [transcript])[0])
        return Comparison(score=math.exp(-loss), lag=None, details={"judge": self.recognizer.name, "token_loss": loss})

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Read the transcript carried by ``resynthesized`` (from :class:`TranscriptOnly` or ``VoiceSearch``)."""
        text = getattr(resynthesized, "text", "")
        if not text:
            raise BadInputError(
                f"{self.name} needs the transcript: use it with the TranscriptOnly() synthesiser, not plain audio"
            )
        return self.score_transcript(observed, text)
