"""Comparators: how consistent is the input with its transcript?

Most comparators judge the input against a re-synthesis of the transcript (:meth:`Comparator.score`);
:class:`TranscriptComparator` subclasses judge the transcript directly (``needs_rendering = False``,
:meth:`Comparator.score_transcript`) and the detector then skips TTS. Either way the answer is a
:class:`Comparison` whose score is higher for more consistent inputs; each comparator documents its range
in ``score_range``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthcheck.audio.correlation import CorrelationMode, TemplatePosition, max_normalized_xcorr
from synthcheck.audio.io import validate_audio
from synthcheck.audio.pearson import ORIGIN, PEARSON_MEASURES, SAMPLE_FRACTION, pearson_measure
from synthcheck.errors import BadInputError

#: Comparator names accepted by :func:`get_comparator` (and ``synthcheck detect --comparator``).
COMPARATORS = (*PEARSON_MEASURES, "xcorr-template", "xcorr-full", "dtw-mfcc", "likelihood-tiny.en", "likelihood-base",
               "align-pocketsphinx")


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


class TranscriptComparator(Comparator):
    """A comparator that judges the transcript itself, without TTS: implement :meth:`score_transcript`."""

    needs_rendering = False

    @abstractmethod
    def score_transcript(self, observed: np.ndarray, transcript: str) -> Comparison:
        """Judge the input ``observed`` (1-D float32 at 16 kHz) against ``transcript``."""

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Refused: this comparator judges transcripts (use :meth:`score_transcript`)."""
        raise BadInputError(f"comparator {self.name} judges the transcript, not a re-synthesis: call score_transcript")


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


class CorrelationComparator(Comparator):
    """Template cross-correlation (``xcorr-template``, ``xcorr-full``): score in [0, 1].

    A contiguous slice of ``template_fraction`` of the re-synthesis (``mode="template"``) or all of it
    (``"full"``) is slid over the input with per-window normalisation; see
    :func:`synthcheck.audio.correlation.max_normalized_xcorr`. ``xcorr-template`` was synthcheck's first
    reading of the paper's check (kept so older runs stay comparable); the paper's own is ``xcorr-paper``
    (:class:`PearsonComparator`). The lag is the delay of the input relative to the re-synthesis.
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


def get_comparator(name: str) -> Comparator:
    """The comparator called ``name`` (one of :data:`COMPARATORS`; ``xcorr-paper`` is the paper's)."""
    if name in PEARSON_MEASURES:
        return PearsonComparator(name)
    if name in ("xcorr-template", "xcorr-full"):
        return CorrelationComparator(mode=name.removeprefix("xcorr-"))
    if name == "dtw-mfcc":
        from synthcheck.detect.dtw_comparator import DtwComparator

        return DtwComparator()
    if name in ("likelihood-tiny.en", "likelihood-base"):
        from synthcheck.detect.likelihood import LikelihoodComparator

        return LikelihoodComparator(name.removeprefix("likelihood-"))
    if name == "align-pocketsphinx":
        from synthcheck.detect.alignment_judge import AlignmentComparator

        return AlignmentComparator()
    raise BadInputError(f"unknown comparator {name!r}; choose one of: {', '.join(COMPARATORS)}")
