"""Decompression over nuisance parameters: render the transcript with many voices and speeds, keep the best.

A human speaker is none of the TTS voices. :class:`VoiceSearch` is a :class:`Synthesizer` that renders
the text with every voice in a list at several *speeds*, and returns the takes together as a
:class:`Renderings` array. :class:`BestOfRenderings` wraps any comparator and scores the input against
every take, keeping the maximum — the rendering closest to the input, i.e. ``argmin_{c ∈ X_û} ‖y − c‖`` of
the design's data flow, approximated over a finite set of voices.

It plugs into an unchanged :class:`~synthcheck.detect.detector.ConsistencyDetector`::

    ConsistencyDetector(recognizer, VoiceSearch(), BestOfRenderings(DtwComparator()))

The detector hands the synthesiser's output to the comparator untouched; a :class:`Renderings` *is* the
first take's audio (so a plain comparator still works on it) and carries the other takes and the text.

Speed is tape speed: resampling by a factor ``s`` makes speech ``s`` times faster *and* ``s`` times
higher in pitch — the two nuisances the cross-correlation comparator is most sensitive to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, resample
from synthcheck.detect.comparators import Comparator, Comparison
from synthcheck.errors import BadInputError, SynthcheckError
from synthcheck.tts.base import Synthesizer

log = logging.getLogger(__name__)

#: Voices searched by default: two pico2wave, two espeak-ng and four flite voices (male and female).
DEFAULT_VOICES = (
    "pico2wave:en-US", "pico2wave:en-GB", "espeak-ng:en-us", "espeak-ng:en-us+f3",
    "flite:slt", "flite:awb", "flite:rms", "flite:kal16",
)
#: Tape speeds searched by default.
DEFAULT_SPEEDS = (0.9, 1.0, 1.1)


@dataclass(frozen=True)
class Take:
    """One rendering of the text: which voice, at which speed."""

    voice: str
    speed: float
    audio: np.ndarray


class Renderings(np.ndarray):
    """The first take's audio, carrying all :attr:`takes` and the rendered :attr:`text`.

    Create with :meth:`from_takes`. Slicing or arithmetic gives plain audio semantics; comparators that
    know about renderings (:class:`BestOfRenderings`) read :attr:`takes`.
    """

    takes: tuple[Take, ...]
    text: str

    @classmethod
    def from_takes(cls, text: str, takes: Sequence[Take]) -> Renderings:
        """Bundle ``takes`` of ``text`` (the first take is the array's own data; may be empty)."""
        first = takes[0].audio if takes else np.zeros(0, dtype=np.float32)
        out = np.asarray(first, dtype=np.float32).view(cls)
        out.takes = tuple(takes)
        out.text = text
        return out

    def __array_finalize__(self, obj: object) -> None:
        self.takes = getattr(obj, "takes", ())
        self.text = getattr(obj, "text", "")


def change_speed(audio: np.ndarray, speed: float) -> np.ndarray:
    """Tape-speed change by ``speed`` (1.1 = 10 % faster and higher), by polyphase resampling."""
    if speed == 1.0:
        return np.asarray(audio, dtype=np.float32)
    return resample(audio, int(round(SAMPLE_RATE * speed)), SAMPLE_RATE)


class VoiceSearch(Synthesizer):
    """Renders text with several voices at several tape speeds; returns :class:`Renderings`.

    Parameters
    ----------
    voices
        ``engine:voice`` ids (see :func:`synthcheck.tts.list_voices`); voices that fail to render are
        skipped with a log message, and an error is raised only if none renders.
    speeds
        Tape-speed factors, each in [0.5, 2].
    """

    engine = "voice-search"

    def __init__(self, voices: Sequence[str] = DEFAULT_VOICES, speeds: Sequence[float] = DEFAULT_SPEEDS) -> None:
        from synthcheck.tts import synthesizer_from_id

        if not voices or not speeds:
            raise BadInputError("voice search needs at least one voice and one speed")
        bad = [s for s in speeds if not 0.5 <= s <= 2.0]
        if bad:
            raise BadInputError(f"speeds must be in [0.5, 2], got {bad}")
        self.synthesizers = [synthesizer_from_id(v) for v in voices]
        self.speeds = tuple(float(s) for s in speeds)
        self.voice = f"{len(self.synthesizers)}x{len(self.speeds)}"

    def synthesize(self, text: str) -> Renderings:
        """All takes of ``text``: every voice at every speed."""
        takes: list[Take] = []
        last_error: SynthcheckError | None = None
        for synthesizer in self.synthesizers:
            try:
                audio = synthesizer.synthesize(text)
            except SynthcheckError as exc:
                log.info("voice search: %s cannot render %r: %s", synthesizer.id, text, exc)
                last_error = exc
                continue
            takes += [Take(synthesizer.id, s, change_speed(audio, s)) for s in self.speeds]
        if not takes:
            raise last_error or BadInputError(f"no voice could render {text!r}")
        return Renderings.from_takes(text, takes)


class BestOfRenderings(Comparator):
    """Scores the input against every take of a :class:`Renderings` with ``inner`` and keeps the best.

    Score range is the inner comparator's. On plain audio it is the inner comparator.
    ``details`` name the winning ``voice`` and ``speed`` and list all ``take_scores``.
    """

    def __init__(self, inner: Comparator) -> None:
        self.inner = inner
        self.name = f"best-of({inner.name})"
        self.score_range = inner.score_range

    def score(self, observed: np.ndarray, resynthesized: np.ndarray) -> Comparison:
        """The inner comparison with the highest score over all takes."""
        takes = getattr(resynthesized, "takes", ())
        if not takes:
            return self.inner.score(observed, np.asarray(resynthesized))
        comparisons = [self.inner.score(observed, take.audio) for take in takes]
        best = int(np.argmax([c.score for c in comparisons]))
        details = {
            **comparisons[best].details,
            "voice": takes[best].voice,
            "speed": takes[best].speed,
            "take_scores": [round(float(c.score), 4) for c in comparisons],
        }
        return Comparison(score=comparisons[best].score, lag=comparisons[best].lag, details=details)
