"""MFCC features and the banded-DTW comparator, on real pico2wave / espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.detect.comparators import get_comparator
from synthcheck.detect.dtw_comparator import DtwComparator, band_limits, cosine_cost_matrix, dtw_cost
from synthcheck.detect.features import (
    HOP_LENGTH,
    N_MELS,
    cmvn,
    deltas,
    mel_filterbank,
    mfcc,
    speech_bounds,
    speech_features,
)
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer


@pytest.fixture(scope="module")
def pico():
    return get_synthesizer("pico2wave", "en-US").synthesize


def brute_force_dtw(cost: np.ndarray, band: float) -> float:
    n, m = cost.shape
    lo, hi = band_limits(n, m, band)
    total = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(lo[i], hi[i]):
            if i == j == 0:
                total[i, j] = 2 * cost[0, 0]
                continue
            options = [np.inf]
            if i and j:
                options.append(total[i - 1, j - 1] + 2 * cost[i, j])
            if i:
                options.append(total[i - 1, j] + cost[i, j])
            if j:
                options.append(total[i, j - 1] + cost[i, j])
            total[i, j] = min(options)
    return float(total[-1, -1])


@pytest.mark.parametrize(("n", "m", "band"), [(5, 7, 1.0), (20, 13, 0.25), (13, 30, 0.2), (1, 5, 0.5), (40, 40, 0.1)])
def test_vectorised_dtw_equals_the_textbook_recursion(n: int, m: int, band: float) -> None:
    cost = np.random.default_rng(n * m).random((n, m))
    assert dtw_cost(cost, band) == pytest.approx(brute_force_dtw(cost, band), rel=1e-12)


def test_mel_filterbank_covers_the_spectrum_with_unit_peaks() -> None:
    bank = mel_filterbank()
    assert bank.shape == (N_MELS, 257)
    assert np.all(bank.max(axis=1) > 0.5) and bank.max() <= 1.0
    assert np.all(np.diff(bank.argmax(axis=1)) >= 0)
    assert np.all(bank[:, 1:-1].sum(axis=0) > 0)


def test_mfcc_frames_and_cmvn(pico) -> None:
    audio = pico("it was the best of times")
    features = mfcc(audio)
    assert features.shape == (1 + (len(audio) - 400) // HOP_LENGTH, 13)
    normalised = cmvn(features)
    assert np.allclose(normalised.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(normalised.std(axis=0), 1.0, atol=1e-6)


def test_deltas_of_a_ramp_are_its_slope() -> None:
    ramp = np.arange(30.0)[:, None] * np.array([[1.0, -2.0]])
    assert np.allclose(deltas(ramp)[2:-2], [[1.0, -2.0]])
    assert deltas(ramp).shape == ramp.shape
    assert speech_features(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE)).shape[1] == 39


def test_mfcc_ignores_loudness() -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32) * 0.5
    tone += np.random.default_rng(0).normal(0, 0.01, tone.size).astype(np.float32)
    assert np.allclose(mfcc(tone), mfcc(tone * 0.1), atol=1e-3)


def test_speech_bounds_drop_silent_edges(pico) -> None:
    speech = pico("hello world")
    padded = np.r_[np.zeros(SAMPLE_RATE, np.float32), speech, np.zeros(SAMPLE_RATE, np.float32)]
    start, stop = speech_bounds(padded)
    assert start >= SAMPLE_RATE // HOP_LENGTH - 3
    assert stop <= (SAMPLE_RATE + len(speech)) // HOP_LENGTH + 3
    assert len(speech_features(padded)) == stop - start


def test_identical_audio_scores_one_and_registry_builds_it(pico) -> None:
    audio = pico("it was the age of wisdom")
    comparator = get_comparator("dtw-mfcc")
    assert isinstance(comparator, DtwComparator)
    assert comparator.score(audio, audio).score == pytest.approx(1.0, abs=1e-9)


def test_cosine_costs_are_in_range() -> None:
    a, b = np.random.default_rng(1).normal(size=(2, 30, 13))
    cost = cosine_cost_matrix(a, b)
    assert cost.shape == (30, 30) and cost.min() >= 0.0 and cost.max() <= 2.0


def test_same_words_in_another_voice_score_higher_than_other_words(pico) -> None:
    espeak = get_synthesizer("espeak-ng", "en-us+f3")
    comparator = DtwComparator()
    sentences = ["it was the best of times", "we had nothing before us", "the season of darkness"]
    observed = [espeak.synthesize(s) for s in sentences]
    rendered = [pico(s) for s in sentences]
    scores = np.array([[comparator.score(o, r).score for r in rendered] for o in observed])
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert np.all(np.diag(scores) > scores.max(axis=1, where=~np.eye(3, dtype=bool), initial=0.0) - 1e-12)


def test_silence_and_bad_band_are_rejected(pico) -> None:
    with pytest.raises(BadInputError, match="band"):
        DtwComparator(band=0.0)
    with pytest.raises(BadInputError, match="silent"):
        DtwComparator().score(np.zeros(16000, np.float32), pico("hello"))
