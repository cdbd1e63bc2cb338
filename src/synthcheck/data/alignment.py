"""Cut a recording of a known text into segments, with cut points found by forced alignment.

Whisper (``word_timestamps=True``, the packaged tiny.en weights) gives a time span per recognised word;
the recognised words are matched to the known text (difflib over normalised words), and each segment
boundary is placed at the quietest 30 ms of the pause between the last word of one segment and the
first word of the next. No time is typed by hand; the result is cached (see :mod:`synthcheck.data.datasets`).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, validate_audio
from synthcheck.audio.windows import quietest_sample
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: Whisper model used for alignment (English-only, fast on CPU, 0 % WER on the LibriVox paragraph).
ALIGNMENT_MODEL = "tiny.en"
#: Silence kept before the first and after the last word (seconds).
EDGE_PAD_SECONDS = 0.25


@dataclass(frozen=True)
class WordSpan:
    """A word of the known text and where it was heard (seconds; ``matched`` is False if interpolated)."""

    word: str
    start: float
    end: float
    matched: bool


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation (``"Light,"`` → ``"light"``; dashes split words)."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("\u2014", " "))


def recognize_words(audio: np.ndarray, model_size: str = ALIGNMENT_MODEL) -> list[tuple[str, float, float]]:
    """Whisper's recognised words with start/end times in seconds (greedy, temperature 0)."""
    import whisper

    from synthcheck.asr.whisper.model import load_whisper_model

    model = load_whisper_model(model_size)
    result = whisper.transcribe(
        model, validate_audio(audio), language="en", word_timestamps=True, fp16=False,
        temperature=0.0, condition_on_previous_text=False,
    )
    return [(w["word"], float(w["start"]), float(w["end"])) for seg in result["segments"] for w in seg["words"]]


def match_words(text: str, heard: Sequence[tuple[str, float, float]]) -> list[WordSpan]:
    """Give every word of ``text`` a time span from the recognised ``heard`` words.

    Words that the recogniser got right are matched (difflib on normalised words); the others take
    the gap between their matched neighbours.

    Raises
    ------
    BadInputError
        Fewer than half of the text's words were recognised: the recording does not read this text.
    """
    expected = normalize_words(text)
    heard_norm: list[str] = []
    heard_times: list[tuple[float, float]] = []
    for word, start, end in heard:
        for part in normalize_words(word):
            heard_norm.append(part)
            heard_times.append((start, end))
    spans: list[tuple[float, float] | None] = [None] * len(expected)
    matcher = difflib.SequenceMatcher(a=expected, b=heard_norm, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            spans[block.a + k] = heard_times[block.b + k]
    matched = sum(s is not None for s in spans)
    if matched < len(expected) / 2:
        raise BadInputError(
            f"alignment failed: only {matched} of {len(expected)} words of the text were heard in the recording; "
            "check that the audio reads this text"
        )
    return _interpolate(expected, spans, duration=heard_times[-1][1] if heard_times else 0.0)


def _interpolate(words: list[str], spans: list[tuple[float, float] | None], duration: float) -> list[WordSpan]:
    out: list[WordSpan] = []
    for i, (word, span) in enumerate(zip(words, spans)):
        if span is not None:
            out.append(WordSpan(word, span[0], span[1], True))
            continue
        before = out[-1].end if out else 0.0
        after = next((s[0] for s in spans[i + 1 :] if s is not None), duration)
        out.append(WordSpan(word, before, max(before, after), False))
    return out


def segment_cut_points(audio: np.ndarray, spans: Sequence[WordSpan], segment_lengths: Sequence[int]) -> list[int]:
    """Sample positions ``[c0, c1, …, cN]`` cutting ``audio`` into ``N`` segments of the given word counts.

    Inner cuts fall at the quietest point between the end of a segment's last word (minus 0.1 s of slack)
    and the middle of the next segment's first word (Whisper often folds a pause into the next word's
    start); the outer cuts keep :data:`EDGE_PAD_SECONDS` of context.
    """
    if sum(segment_lengths) != len(spans):
        raise BadInputError(f"segments cover {sum(segment_lengths)} words but the text has {len(spans)}")
    firsts = np.cumsum([0, *segment_lengths[:-1]])
    cuts = [max(0, int((spans[0].start - EDGE_PAD_SECONDS) * SAMPLE_RATE))]
    for first in firsts[1:]:
        last_word, next_word = spans[first - 1], spans[first]
        stop = max(next_word.start, (next_word.start + next_word.end) / 2)
        cuts.append(quietest_sample(audio, last_word.end - 0.1, max(stop, last_word.end)))
    cuts.append(min(len(audio), int((spans[-1].end + EDGE_PAD_SECONDS) * SAMPLE_RATE)))
    return cuts


def align_segments(
    audio: np.ndarray,
    segments: Sequence[str],
    heard: Sequence[tuple[str, float, float]] | None = None,
) -> list[int]:
    """Cut points (sample positions, one more than ``segments``) of a recording that reads ``segments`` in order.

    ``heard`` are the recognised words (:func:`recognize_words`); they are recognised here when not given.
    """
    text = " ".join(segments)
    spans = match_words(text, recognize_words(audio) if heard is None else heard)
    unmatched = [s.word for s in spans if not s.matched]
    if unmatched:
        log.info("alignment: %d words interpolated (%s)", len(unmatched), ", ".join(unmatched[:8]))
    return segment_cut_points(audio, spans, [len(normalize_words(s)) for s in segments])
