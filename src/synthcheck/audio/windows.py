"""Cutting long audio at pauses: for windowed transcription and for aligning clauses."""

from __future__ import annotations

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE

#: Energy smoothing window for picking the quietest point of a pause (seconds).
QUIET_WINDOW_SECONDS = 0.03
#: Windows within this many dB of the quietest one count as the pause.
QUIET_MARGIN_DB = 6.0
#: Long inputs are transcribed in windows of at most this many seconds (Whisper's input length).
WINDOW_SECONDS = 30.0
#: Each window ends in the longest pause within this many seconds before its limit.
SPLIT_SEARCH_SECONDS = 3.0


def quietest_sample(audio: np.ndarray, start: float, stop: float) -> int:
    """Sample index in the middle of the longest quiet run within ``[start, stop)`` seconds.

    Energy is measured in :data:`QUIET_WINDOW_SECONDS` windows every 10 ms; "quiet" is within
    :data:`QUIET_MARGIN_DB` of the quietest window, so a flat pause is cut in its middle, not at an edge.
    """
    hop = SAMPLE_RATE // 100
    lo = max(0, int(start * SAMPLE_RATE))
    hi = min(len(audio), max(lo + 1, int(stop * SAMPLE_RATE)))
    window = min(hi - lo, max(1, int(QUIET_WINDOW_SECONDS * SAMPLE_RATE)))
    power = np.convolve(np.asarray(audio[lo:hi], dtype=np.float64) ** 2, np.ones(window) / window, mode="valid")
    level = 10.0 * np.log10(power[::hop] + 1e-12)
    quiet = np.r_[False, level <= level.min() + QUIET_MARGIN_DB, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(quiet))
    starts, stops = edges[::2], edges[1::2]
    longest = int(np.argmax(stops - starts))
    centre = (starts[longest] + stops[longest] - 1) / 2
    return lo + window // 2 + int(round(centre * hop))


def split_points(
    audio: np.ndarray, window_seconds: float = WINDOW_SECONDS, search_seconds: float = SPLIT_SEARCH_SECONDS
) -> list[int]:
    """Sample indices cutting ``audio`` (16 kHz) into windows of at most ``window_seconds``.

    Each cut is :func:`quietest_sample` within the last ``search_seconds`` of its window, so words are rarely
    split. Works for any recogniser.
    """
    cuts: list[int] = []
    start = 0
    while audio.size - start > window_seconds * SAMPLE_RATE:
        end = start / SAMPLE_RATE + window_seconds
        start = quietest_sample(audio, end - search_seconds, end)
        cuts.append(start)
    return cuts


def split_at_pauses(audio: np.ndarray, window_seconds: float = WINDOW_SECONDS) -> list[np.ndarray]:
    """``audio`` cut at its :func:`split_points` into windows of at most ``window_seconds`` (every sample kept,
    in order); one window when it is short enough. What windowed transcription and detection iterate over."""
    return np.split(audio, split_points(audio, window_seconds))
