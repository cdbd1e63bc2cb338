"""The consistency detector: transcribe, re-synthesise the transcript, compare with the input."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.audio.io import validate_audio
from synthcheck.detect.comparators import Comparator, CorrelationComparator
from synthcheck.errors import BadInputError
from synthcheck.tts.base import Synthesizer

#: The paper's threshold for the normalised max cross-correlation.
DEFAULT_THRESHOLD = 0.4


@dataclass
class Verdict:
    """Everything needed to trust a decision: the label, the score, the threshold, the decision, the evidence.

    Attributes
    ----------
    transcript
        What the recogniser heard (or the transcript given to :meth:`ConsistencyDetector.check_transcript`).
    score, threshold, consistent
        ``consistent`` is ``score >= threshold``; inconsistent inputs are possibly adversarial.
    lag
        Best alignment of the input relative to the re-synthesis, in samples (``None`` if not compared).
    recognizer, synthesizer, comparator
        Names of the components that produced the verdict.
    timings
        Seconds spent in ``asr``, ``tts``, ``compare`` and ``total``.
    reason
        Why the pair was not compared (e.g. the recogniser heard no words); empty otherwise.
    details
        The comparator's extra evidence.
    resynthesized
        The re-synthesised audio (not part of :meth:`to_dict`).
    """

    transcript: str
    score: float
    threshold: float
    consistent: bool
    lag: int | None
    recognizer: str
    synthesizer: str
    comparator: str
    timings: dict[str, float]
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    resynthesized: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of everything except the re-synthesised audio."""
        return {
            "transcript": self.transcript,
            "score": float(self.score),
            "threshold": float(self.threshold),
            "consistent": bool(self.consistent),
            "lag": None if self.lag is None else int(self.lag),
            "recognizer": self.recognizer,
            "synthesizer": self.synthesizer,
            "comparator": self.comparator,
            "timings": {k: float(v) for k, v in self.timings.items()},
            "reason": self.reason,
            "details": _json_safe(self.details),
        }


class ConsistencyDetector:
    """Flags inputs whose transcript, spoken again by a TTS engine, does not match the input.

    Parameters
    ----------
    recognizer, synthesizer
        The classifier under protection and the "decompression" back to audio.
    comparator
        Consistency score (default: the paper's normalised max cross-correlation).
    threshold
        Scores at or above it are consistent (paper: 0.4).
    """

    def __init__(
        self,
        recognizer: Recognizer,
        synthesizer: Synthesizer,
        comparator: Comparator | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if not math.isfinite(threshold):
            raise BadInputError(f"threshold must be a finite number, got {threshold}")
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.comparator = comparator if comparator is not None else CorrelationComparator()
        self.threshold = float(threshold)

    def check(self, audio: np.ndarray) -> Verdict:
        """Transcribe ``audio`` (16 kHz float32) and judge it against the re-synthesis of its transcript."""
        audio = validate_audio(audio, name="input audio")
        start = perf_counter()
        transcript = self.recognizer.transcribe(audio)
        return self.check_transcript(audio, transcript, asr_seconds=perf_counter() - start)

    def check_transcript(self, audio: np.ndarray, transcript: str, *, asr_seconds: float = 0.0) -> Verdict:
        """Judge ``audio`` against a known ``transcript`` (e.g. the recogniser's output stored by an experiment).

        An empty or unspeakable transcript gives an inconsistent verdict with score 0 and a ``reason``.
        """
        audio = validate_audio(audio, name="input audio")
        timings = {"asr": asr_seconds, "tts": 0.0, "compare": 0.0}
        resynthesized, reason = self._resynthesize(transcript, timings)
        comparison = None
        if resynthesized is not None:
            start = perf_counter()
            comparison = self.comparator.score(audio, resynthesized)
            timings["compare"] = perf_counter() - start
        timings["total"] = sum(timings.values())
        return Verdict(
            transcript=transcript,
            score=comparison.score if comparison else 0.0,
            threshold=self.threshold,
            consistent=comparison is not None and comparison.score >= self.threshold,
            lag=comparison.lag if comparison else None,
            recognizer=self.recognizer.name,
            synthesizer=self.synthesizer.id,
            comparator=self.comparator.name,
            timings=timings,
            reason=reason,
            details=comparison.details if comparison else {},
            resynthesized=resynthesized,
        )

    def _resynthesize(self, transcript: str, timings: dict[str, float]) -> tuple[np.ndarray | None, str]:
        """Speak the transcript; ``(None, reason)`` when there is nothing to speak."""
        if not transcript.strip():
            return None, "the recogniser heard no words"
        start = perf_counter()
        try:
            return self.synthesizer.synthesize(transcript), ""
        except BadInputError as exc:
            return None, f"the transcript cannot be re-synthesised: {exc}"
        finally:
            timings["tts"] = perf_counter() - start


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
