"""MFCC features and the banded-DTW comparator, on real pico2wave / espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.detect.dtw_comparator import DtwComparator, band_limits, cosine_cost_matrix, dtw_cost, dtw_path
from synthcheck.detect.features import (
    HOP_LENGTH,
    N_MELS,
    cmvn,
    deltas,
    mel_filterbank,
    mfcc,
    speech_bounds,
    speech_features,
    speech_features_torch,
)
from synthcheck.detect.registry import get_comparator
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


def monotone_paths(n: int, m: int, band: float):
    """Every DTW path from (0, 0) to (n-1, m-1) inside the band, as (cells, step weights)."""
    lo, hi = band_limits(n, m, band)

    def extend(cells, weights):
        i, j = cells[-1]
        if (i, j) == (n - 1, m - 1):
            yield cells, weights
            return
        for di, dj, w in ((1, 1, 2), (1, 0, 1), (0, 1, 1)):
            if i + di < n and lo[i + di] <= j + dj < hi[i + di]:
                yield from extend([*cells, (i + di, j + dj)], [*weights, w])

    yield from extend([(0, 0)], [2])


@pytest.mark.parametrize(("n", "m", "band"), [(5, 7, 1.0), (60, 45, 0.25), (13, 30, 0.2), (1, 5, 0.5), (80, 80, 0.1)])
def test_dtw_path_is_a_band_path_whose_cost_is_the_dtw_cost(n: int, m: int, band: float) -> None:
    cost = np.random.default_rng(n + m).random((n, m))
    path = dtw_path(cost, band)
    assert path.cost == dtw_cost(cost, band)
    assert float(np.sum(path.weights * cost[path.rows, path.cols])) == pytest.approx(path.cost, rel=1e-12)
    assert path.weights.sum() == n + m
    assert (path.rows[0], path.cols[0], path.rows[-1], path.cols[-1]) == (0, 0, n - 1, m - 1)
    steps = np.stack([np.diff(path.rows), np.diff(path.cols)], axis=1)
    assert {tuple(s) for s in steps} <= {(1, 1), (1, 0), (0, 1)}
    assert np.array_equal(path.weights[1:], np.where(steps.sum(axis=1) == 2, 2.0, 1.0))
    lo, hi = band_limits(n, m, band)
    assert np.all((path.cols >= lo[path.rows]) & (path.cols < hi[path.rows]))


@pytest.mark.parametrize(("n", "m", "band", "seed"), [(4, 5, 1.0, 0), (5, 6, 0.3, 1), (6, 4, 0.5, 2)])
def test_dtw_path_is_optimal_among_all_band_paths(n: int, m: int, band: float, seed: int) -> None:
    cost = np.random.default_rng(seed).random((n, m))
    paths = {tuple(c): sum(w * cost[cell] for cell, w in zip(c, ws)) for c, ws in monotone_paths(n, m, band)}
    assert len(paths) > 10
    path = dtw_path(cost, band)
    cells = tuple(zip(path.rows.tolist(), path.cols.tolist()))
    assert paths[cells] == pytest.approx(min(paths.values()), rel=1e-12)
    assert path.cost == pytest.approx(min(paths.values()), rel=1e-12)


def test_torch_features_are_the_numpy_ones_and_differentiable(pico) -> None:
    audio = pico("hello world")
    waveform = torch.from_numpy(audio.astype(np.float64)).requires_grad_(True)
    features = speech_features_torch(waveform)
    assert np.allclose(features.detach().numpy(), speech_features(audio), rtol=0, atol=1e-9)
    weights = torch.from_numpy(np.random.default_rng(0).normal(size=tuple(features.shape)))
    (gradient,) = torch.autograd.grad((features * weights).sum(), waveform)
    assert torch.isfinite(gradient).all() and gradient.abs().max() > 0
    # directional finite difference with the silence bounds held fixed
    bounds = speech_bounds(audio)
    direction = torch.from_numpy(np.random.default_rng(1).normal(0, 1e-3, audio.size))
    with torch.no_grad():
        def objective(x: torch.Tensor) -> float:
            return float((speech_features_torch(x, bounds) * weights).sum())

        eps = 1e-3
        numeric = (objective(waveform + eps * direction) - objective(waveform - eps * direction)) / (2 * eps)
    assert float(gradient @ direction) == pytest.approx(numeric, rel=1e-4)


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
