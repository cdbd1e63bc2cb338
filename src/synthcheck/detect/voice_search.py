"""Decompression over nuisance parameters: render the transcript with many voices and speeds.

A human speaker is none of the TTS voices. :class:`VoiceSearch` is a :class:`Synthesizer` whose
:meth:`~VoiceSearch.render_takes` renders the text with every voice in a list at several *speeds*; the
:class:`~synthcheck.detect.detector.ConsistencyDetector` scores its input against every take and keeps the
best — the rendering closest to the input, i.e. ``argmin_{c ∈ X_û} ‖y − c‖`` of the design's data flow,
approximated over a finite set of voices::

    ConsistencyDetector(recognizer, VoiceSearch(), DtwComparator())

Speed is tape speed: resampling by a factor ``s`` makes speech ``s`` times faster *and* ``s`` times
higher in pitch — the two nuisances the cross-correlation comparator is most sensitive to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, resample
from synthcheck.errors import BadInputError, SynthcheckError
from synthcheck.tts.base import Synthesizer, Take

log = logging.getLogger(__name__)

#: Voices searched by default: two pico2wave, two espeak-ng and four flite voices (male and female).
DEFAULT_VOICES = (
    "pico2wave:en-US", "pico2wave:en-GB", "espeak-ng:en-us", "espeak-ng:en-us+f3",
    "flite:slt", "flite:awb", "flite:rms", "flite:kal16",
)
#: Tape speeds searched by default.
DEFAULT_SPEEDS = (0.9, 1.0, 1.1)


def change_speed(audio: np.ndarray, speed: float) -> np.ndarray:
    """Tape-speed change by ``speed`` (1.1 = 10 % faster and higher), by polyphase resampling."""
    if speed == 1.0:
        return np.asarray(audio, dtype=np.float32)
    return resample(audio, int(round(SAMPLE_RATE * speed)), SAMPLE_RATE)


class VoiceSearch(Synthesizer):
    """Renders text with several voices at several tape speeds (one :class:`Take` per pair).

    Parameters
    ----------
    voices
        ``engine:voice`` ids (see :func:`synthcheck.tts.list_voices`); voices that fail to render a text
        are skipped with a log message, and an error is raised only if none renders.
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

    def render_takes(self, text: str) -> list[Take]:
        """All takes of ``text``: every voice that can render it, at every speed (voice-major order)."""
        renders = self._voice_renders(text)
        return [Take(voice, s, change_speed(audio, s)) for voice, audio in renders for s in self.speeds]

    def synthesize(self, text: str) -> np.ndarray:
        """The first take: the first voice that renders ``text``, at the first speed."""
        _, audio = next(self._voice_renders(text))
        return change_speed(audio, self.speeds[0])

    def _voice_renders(self, text: str) -> Iterator[tuple[str, np.ndarray]]:
        """``(voice id, audio)`` of each voice that renders ``text``; raises if none does."""
        last_error: SynthcheckError | None = None
        rendered = False
        for synthesizer in self.synthesizers:
            try:
                audio = synthesizer.synthesize(text)
            except SynthcheckError as exc:
                log.info("voice search: %s cannot render %r: %s", synthesizer.id, text, exc)
                last_error = exc
                continue
            rendered = True
            yield synthesizer.id, audio
        if not rendered:
            raise last_error or BadInputError(f"no voice could render {text!r}")
