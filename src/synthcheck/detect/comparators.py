"""Comparators: how similar is the input to the re-synthesis of its transcript?

A :class:`Comparator` maps (observed input, re-synthesised audio) to a :class:`Comparison` whose score is
higher for more consistent pairs; each comparator documents its range in ``score_range``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthcheck.audio.correlation import CorrelationMode, TemplatePosition, max_normalized_xcorr
from synthcheck.audio.io import validate_audio
from synthcheck.errors import BadInputError

#: Comparator names accepted by :func:`get_comparator` (and ``synthcheck detect --comparator``).
COMPARATORS = ("xcorr-paper", "xcorr-full", "dtw-mfcc")


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

    @abstractmethod
    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """Compare the input ``observed`` with ``resynthesized`` (both 1-D float32 at 16 kHz)."""


class CorrelationComparator(Comparator):
    """The paper's comparator: normalised maximum cross-correlation, score in [0, 1].

    A slice of ``template_fraction`` of the re-synthesis (``mode="paper"``) or all of it (``"full"``) is
    slid over the input; see :func:`synthcheck.audio.correlation.max_normalized_xcorr`. The lag is the
    delay of the input relative to the re-synthesis. ``name`` is ``"xcorr-paper"`` or ``"xcorr-full"``.
    """

    score_range = (0.0, 1.0)

    def __init__(
        self,
        mode: CorrelationMode = "paper",
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
    """The comparator called ``name``: ``xcorr-paper`` (the paper's), ``xcorr-full`` or ``dtw-mfcc``."""
    if name in ("xcorr-paper", "xcorr-full"):
        return CorrelationComparator(mode=name.removeprefix("xcorr-"))
    if name == "dtw-mfcc":
        from synthcheck.detect.dtw_comparator import DtwComparator

        return DtwComparator()
    raise BadInputError(f"unknown comparator {name!r}; choose one of: {', '.join(COMPARATORS)}")
