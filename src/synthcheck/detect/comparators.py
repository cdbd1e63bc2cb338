"""Comparators: how consistent is the input with its transcript?

Most comparators judge the input against a re-synthesis of the transcript (:meth:`Comparator.score`);
:class:`TranscriptComparator` subclasses judge the transcript directly (``needs_rendering = False``,
:meth:`Comparator.score_transcript`) and the detector then skips TTS. Either way the answer is a
:class:`Comparison` whose score is higher for more consistent inputs; each comparator documents its range
in ``score_range``.

Comparators an adaptive attacker can differentiate also offer their score in torch, equal (to float
tolerance) to the numpy one: :class:`DifferentiableComparator` (against a re-synthesis) and
:class:`DifferentiableTranscriptComparator` (against a transcript). Comparators by name:
:mod:`synthcheck.detect.registry`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synthcheck.audio.correlation import CorrelationMode, TemplatePosition, max_normalized_xcorr, template_bounds
from synthcheck.audio.io import validate_audio
from synthcheck.audio.pearson import ORIGIN, PEARSON_MEASURES, SAMPLE_FRACTION, pearson_measure
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Comparison:
    """A comparator's answer: the score, the best alignment lag in samples (if any) and extra evidence."""

    score: float
    lag: int | None
    details: dict[str, Any] = field(default_factory=dict)


class Comparator(ABC):
    """Scores the consistency of an observed signal with a re-synthesis; higher means more consistent."""

    #: Short name used in verdicts and reports.
    name: str = "comparator"
    #: (lowest, highest) possible score.
    score_range: tuple[float, float] = (0.0, 1.0)
    #: Whether the comparator needs the transcript rendered to audio (False: it judges the text itself).
    needs_rendering: bool = True

    @abstractmethod
    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Compare the input ``observed`` with ``resynthesized`` (both 1-D float32 at 16 kHz)."""

    def score_transcript(self, observed: np.ndarray, transcript: str) -> Comparison:
        """Judge ``observed`` against ``transcript`` directly (only comparators with ``needs_rendering = False``)."""
        raise BadInputError(f"comparator {self.name} compares with a re-synthesis; it cannot judge a transcript alone")


def require_words(transcript: str) -> str:
    """``transcript`` if it has anything but white space, else a :class:`BadInputError`."""
    if not transcript.strip():
        raise BadInputError("empty transcript: nothing to judge")
    return transcript


class TranscriptJudgement:
    """One recording's judgement under way: begun with the audio (:meth:`TranscriptComparator.begin`), given its
    transcript by :meth:`submit`, answered by :meth:`result`.

    This base class does all the work in :meth:`result`; a comparator whose work can start before the transcript
    is known, or run beside the caller's (the align judge in its second process), returns a subclass.
    """

    #: Whether the judgement works in another process (the caller's torch then leaves it a core).
    background = False

    def __init__(self, comparator: TranscriptComparator, audio: np.ndarray) -> None:
        self.comparator, self.audio = comparator, audio
        self.transcript: str | None = None

    def submit(self, transcript: str) -> None:
        """Hand over the transcript (a non-empty string)."""
        self.transcript = require_words(transcript)

    def result(self) -> Comparison:
        """The comparison (waits for background work)."""
        if self.transcript is None:
            raise BadInputError("no transcript submitted: call submit before result")
        return self.comparator.score_checked(self.audio, self.transcript)


class TranscriptComparator(Comparator):
    """A comparator that judges the transcript itself, without TTS: implement :meth:`score_transcript`."""

    needs_rendering = False

    def score_transcript(self, observed: np.ndarray, transcript: str) -> Comparison:
        """Judge the input ``observed`` (1-D float32 at 16 kHz) against ``transcript`` (both checked here).

        Raises
        ------
        BadInputError
            Bad audio or an empty transcript.
        """
        return self.score_checked(validate_audio(observed, name="observed audio"), require_words(transcript))

    @abstractmethod
    def score_checked(self, audio: np.ndarray, transcript: str) -> Comparison:
        """:meth:`score_transcript` of input already checked: valid ``audio``, a non-empty ``transcript``."""

    def begin(self, audio: np.ndarray, *, background: bool = True) -> TranscriptJudgement:
        """Start judging ``audio`` before its transcript is known (what a detector does while its recogniser runs);
        ``background=False`` keeps all the work in this process.

        ``audio`` must already be valid (1-D finite float32 at 16 kHz, as a detector's edge checks it);
        :meth:`score_transcript` is the checked entry for anything else. The default starts nothing.
        """
        return TranscriptJudgement(self, audio)

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Refused: this comparator judges transcripts (use :meth:`score_transcript`)."""
        raise BadInputError(f"comparator {self.name} judges the transcript, not a re-synthesis: call score_transcript")


class DifferentiableComparator(Comparator):
    """A comparator whose score of an input against a re-synthesis also exists in torch, with gradients to the input.

    :meth:`torch_reference` turns a re-synthesis (a constant for the attacker, who knows his target) into what
    :meth:`torch_score` compares with; the detector computes it once per take.
    """

    @abstractmethod
    def torch_reference(self, resynthesized: np.ndarray) -> torch.Tensor:
        """The constant part of the comparison with ``resynthesized`` (1-D float32 at 16 kHz)."""

    @abstractmethod
    def torch_score(self, observed: torch.Tensor, references: list[torch.Tensor]) -> torch.Tensor:
        """The best :meth:`~Comparator.score` of ``observed`` (1-D) against the takes behind ``references``: a
        differentiable float64 scalar (the gradient follows the best take)."""


class DifferentiableTranscriptComparator(TranscriptComparator):
    """A transcript comparator whose score also exists in torch, batched, with gradients to the input."""

    @abstractmethod
    def torch_penalty(
        self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(−log score [B], score [B])`` of ``audio`` (``[B, T]``, row ``i`` ``lengths[i]`` samples long and
        zero-padded; None: whole rows) against ``transcripts``: the differentiable penalty and the detached
        float64 score a detector decides on, from one forward pass."""

    @abstractmethod
    def torch_score(self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """:meth:`~Comparator.score_transcript` of each row of ``audio`` against its transcript, ``[B]``, differentiable
        (an approximation for some comparators: see theirs)."""


class PearsonComparator(Comparator):
    """The paper's measure (``xcorr-paper``) and the original code's three (``seed-*``): ``|Pearson rho|`` in [0, 1].

    See :mod:`synthcheck.audio.pearson` for what each computes and which original file it follows. The
    signed coefficient is kept in ``details["rho"]``; the lag (if the measure searches one) is the delay of
    the input relative to the re-synthesis.

    Parameters
    ----------
    measure
        One of :data:`synthcheck.audio.pearson.PEARSON_MEASURES`; also the comparator's name.
    seed, fraction
        Seed and share of the random sample indices (``seed-corrcoef``, ``xcorr-paper``).
    """

    score_range = (0.0, 1.0)

    def __init__(self, measure: str = "xcorr-paper", seed: int = 0, fraction: float = SAMPLE_FRACTION) -> None:
        if measure not in PEARSON_MEASURES:
            raise BadInputError(f"unknown correlation measure {measure!r}; choose one of: {', '.join(PEARSON_MEASURES)}")
        self.name = measure
        self.seed = seed
        self.fraction = fraction

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """``|rho|`` of ``resynthesized`` against ``observed`` under this measure."""
        result = pearson_measure(
            self.name,
            validate_audio(resynthesized, name="re-synthesised audio"),
            validate_audio(observed, name="observed audio"),
            seed=self.seed,
            fraction=self.fraction,
        )
        details = {"rho": result.rho, "n_samples": result.n_samples, "original": ORIGIN[self.name]}
        return Comparison(score=result.score, lag=result.lag, details=details)


class CorrelationComparator(DifferentiableComparator):
    """Template cross-correlation (``xcorr-template``, ``xcorr-full``): score in [0, 1].

    A contiguous slice of ``template_fraction`` of the re-synthesis (``mode="template"``) or all of it
    (``"full"``) is slid over the input with per-window normalisation; see
    :func:`synthcheck.audio.correlation.max_normalized_xcorr`. ``xcorr-template`` was synthcheck's first
    reading of the paper's check (kept so older runs stay comparable); the paper's own is ``xcorr-paper``
    (:class:`PearsonComparator`). The lag is the delay of the input relative to the re-synthesis.

    The torch score (:meth:`torch_score`) slides the same template over the whole input (by FFT, float64; the
    max over lags passes its gradient to the best lag); it needs an input at least as long as the template.
    """

    score_range = (0.0, 1.0)

    def __init__(
        self,
        mode: CorrelationMode = "template",
        template_fraction: float = 0.1,
        template_position: TemplatePosition = "center",
    ) -> None:
        self.mode = mode
        self.template_fraction = template_fraction
        self.template_position = template_position
        self.name = f"xcorr-{mode}"

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Normalised max cross-correlation of ``resynthesized`` (template) against ``observed``."""
        result = max_normalized_xcorr(
            validate_audio(resynthesized, name="re-synthesised audio"),
            validate_audio(observed, name="observed audio"),
            mode=self.mode,
            template_fraction=self.template_fraction,
            template_position=self.template_position,
        )
        details = {
            "mode": self.mode,
            "template_start": result.template_start,
            "template_length": result.template_length,
        }
        return Comparison(score=result.score, lag=result.lag, details=details)

    def torch_reference(self, resynthesized: np.ndarray) -> torch.Tensor:
        """The template cut from ``resynthesized`` (float64), as :meth:`score` cuts it."""
        import torch

        rendering = np.asarray(resynthesized, dtype=np.float64)
        start, length = template_bounds(rendering, self.mode, self.template_fraction, self.template_position)
        return torch.from_numpy(rendering[start : start + length].copy())

    def torch_score(self, observed: torch.Tensor, references: list[torch.Tensor]) -> torch.Tensor:
        """Max over takes and lags of ``|<t, y_k>| / (‖t‖ ‖y_k‖)`` of each template ``t`` over ``observed``."""
        import torch

        y = observed.double()
        return torch.stack([self._torch_template_score(y, t) for t in references]).max()

    @staticmethod
    def _torch_template_score(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Max over lags of the normalised correlation of template ``t`` over ``y`` (FFT, float64)."""
        import torch

        if t.numel() > y.numel():
            raise BadInputError(f"the input is shorter than the {t.numel()}-sample template; lengthen it")
        n_lags = y.numel() - t.numel() + 1
        n_fft = 1 << int(math.ceil(math.log2(y.numel())))
        numerator = torch.fft.irfft(torch.fft.rfft(y, n_fft) * torch.fft.rfft(t, n_fft).conj(), n_fft)[:n_lags]
        prefix = torch.cat([y.new_zeros(1), torch.cumsum(y.square(), 0)])
        window = (prefix[t.numel() :] - prefix[:n_lags]).clamp_min(1e-12)
        rho = numerator.abs() / (t.norm() * window.sqrt())
        return rho.max().clamp(max=1.0)
