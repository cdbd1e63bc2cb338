"""The original code's correlation measures and the paper's formula, against direct implementations."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.audio.pearson import (
    PEARSON_MEASURES,
    cross_correlation,
    paper_xcorr,
    pearson,
    pearson_measure,
    random_indices,
    seed_corrcoef,
    seed_stretched,
    seed_xcorrelation,
)
from synthcheck.errors import BadInputError
from synthcheck.tts import Pico2Wave

TOL = 1e-9


def corrcoef(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a, np.float64), np.asarray(b, np.float64))[0, 1])


def lag_loop(reference: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i reference[i] * observed[i + m]`` lag by lag (the oracle of :func:`cross_correlation`)."""
    ref, obs = reference.astype(np.float64), observed.astype(np.float64)
    lags = np.arange(-(ref.size - 1), obs.size)
    values = np.array([sum(ref[i] * obs[i + m] for i in range(max(0, -m), min(ref.size, obs.size - m)))
                       for m in lags])
    return lags, values


def direct_xcorrelation(reference: np.ndarray, observed: np.ndarray) -> float:
    n = min(reference.size, observed.size)
    ref, obs = reference[:n].astype(np.float64), observed[:n].astype(np.float64)
    lags, values = lag_loop(ref, obs)
    lag = int(lags[np.argmax(values)])
    shifted = np.array([obs[(i + lag) % n] for i in range(n)])  # explicitly shifted, as circshift does
    return corrcoef(ref, shifted)


def direct_paper(reference: np.ndarray, observed: np.ndarray, seed: int) -> tuple[float, int]:
    ref, obs = reference.astype(np.float64), observed.astype(np.float64)
    lags, values = lag_loop(ref, obs)
    lag = int(lags[np.argmax(np.abs(values))])
    overlap = [i for i in range(ref.size) if 0 <= i + lag < obs.size]
    rng = np.random.default_rng(seed)
    count = round(0.1 * len(overlap))
    picks = [int(round(u * len(overlap))) for u in np.sort(rng.random(count))]
    idx = np.array([overlap[p - 1] for p in picks if p > 0])
    return abs(corrcoef(ref[idx], obs[idx + lag])), lag


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return Pico2Wave("en-US").synthesize("it was the best of times")


@pytest.mark.parametrize(("n_ref", "n_obs"), [(600, 900), (900, 600), (700, 700), (50, 1200)])
def test_cross_correlation_matches_the_lag_loop(n_ref, n_obs):
    rng = np.random.default_rng(n_ref + n_obs)
    ref, obs = rng.standard_normal(n_ref), rng.standard_normal(n_obs)
    lags, values = cross_correlation(ref, obs)
    want_lags, want = lag_loop(ref, obs)
    np.testing.assert_array_equal(lags, want_lags)
    np.testing.assert_allclose(values, want, atol=1e-8)


@pytest.mark.parametrize(("n_ref", "n_obs"), [(600, 900), (900, 600), (800, 800)])
def test_each_measure_matches_its_direct_implementation_on_random_signals(n_ref, n_obs):
    rng = np.random.default_rng(n_ref * 7 + n_obs)
    common = rng.standard_normal(max(n_ref, n_obs) + 200).astype(np.float32)
    ref = common[:n_ref] + 0.3 * rng.standard_normal(n_ref).astype(np.float32)
    obs = common[37 : 37 + n_obs] + 0.3 * rng.standard_normal(n_obs).astype(np.float32)  # a delayed copy
    n = min(n_ref, n_obs)

    idx = random_indices(n, np.random.default_rng(3))
    assert seed_corrcoef(ref, obs, seed=3).rho == pytest.approx(corrcoef(ref[idx], obs[idx]), abs=TOL)
    assert seed_xcorrelation(ref, obs).rho == pytest.approx(direct_xcorrelation(ref, obs), abs=TOL)
    want_paper, want_lag = direct_paper(ref, obs, seed=5)
    got = paper_xcorr(ref, obs, seed=5)
    assert (got.score, got.lag) == (pytest.approx(want_paper, abs=TOL), want_lag)
    assert got.lag == -37 and got.score > 0.8  # the delay is found: reference[i] lines up with observed[i - 37]


def test_seed_corrcoef_draws_indices_as_correlation_m():
    rng = np.random.default_rng(0)
    idx = random_indices(1000, np.random.default_rng(0))
    draws = np.round(np.sort(rng.random(100)) * 1000).astype(int)
    np.testing.assert_array_equal(idx, draws[draws > 0] - 1)  # MATLAB's 1-based indices, shifted
    assert idx.min() >= 0 and idx.max() <= 999 and np.all(np.diff(idx) >= 0)


def test_seed_stretched_resamples_the_reference_to_the_input_length(speech):
    slow = np.interp(np.linspace(0, speech.size - 1, int(speech.size * 1.1)), np.arange(speech.size), speech)
    result = seed_stretched(slow.astype(np.float32), speech)
    assert result.n_samples == speech.size and result.lag == 0
    assert result.rho > 0.8  # a 10 % slower rendering, stretched back, lines up sample by sample
    assert seed_stretched(speech, speech).rho == pytest.approx(1.0)


def test_on_speech_the_same_sentence_scores_high_and_another_scores_low(speech):
    rng = np.random.default_rng(1)
    noisy = (np.concatenate((np.zeros(800, np.float32), speech)) * 0.5
             + 0.005 * rng.standard_normal(speech.size + 800).astype(np.float32))
    other = Pico2Wave("en-US").synthesize("he travels the fastest who travels alone")
    for name in PEARSON_MEASURES:
        same, different = pearson_measure(name, speech, noisy), pearson_measure(name, other, noisy)
        print(f"{name}: same {same.score:.3f} (lag {same.lag}), different {different.score:.3f}")
        assert different.score < 0.4
    assert pearson_measure("xcorr-paper", speech, noisy).score > 0.9
    assert pearson_measure("xcorr-paper", speech, noisy).lag == 800
    assert pearson_measure("seed-xcorrelation", speech, noisy).score > 0.9


def test_sign_is_kept_and_the_score_is_its_magnitude(speech):
    for name in ("seed-corrcoef", "seed-stretched", "xcorr-paper"):
        result = pearson_measure(name, speech, -speech)
        assert result.rho < -0.99 and result.score == pytest.approx(-result.rho)
    # Xcorrelation.m shifts to the *signed* maximum: an inverted input lines up at another, weaker lag
    inverted = seed_xcorrelation(speech, -speech)
    assert inverted.lag != 0 and 0.0 < inverted.rho < 0.9


def test_measures_are_deterministic_for_a_seed_and_the_seed_matters(speech):
    other = Pico2Wave("en-US").synthesize("it was the worst of times")
    assert paper_xcorr(other, speech, seed=0) == paper_xcorr(other, speech, seed=0)
    assert paper_xcorr(other, speech, seed=0).rho != paper_xcorr(other, speech, seed=1).rho
    assert seed_corrcoef(other, speech, seed=0).rho != seed_corrcoef(other, speech, seed=1).rho


@pytest.mark.parametrize("name", PEARSON_MEASURES)
def test_silence_constants_and_tiny_inputs_score_zero_never_nan(name):
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(4000).astype(np.float32) * 0.1
    for ref, obs in [(np.zeros(4000, np.float32), noise), (noise, np.zeros(3000, np.float32)),
                     (np.full(4000, 0.3, np.float32), noise), (np.ones(1, np.float32), noise),
                     (noise[:5], noise[:3])]:
        result = pearson_measure(name, ref, obs)
        assert np.isfinite(result.rho) and 0.0 <= result.score <= 1.0
    assert pearson_measure(name, np.zeros(4000, np.float32), noise).rho == 0.0


def test_pearson_refuses_mismatched_shapes_and_bad_arguments():
    assert pearson(np.ones(1), np.ones(1)) == 0.0
    with pytest.raises(BadInputError, match="one length"):
        pearson(np.ones(3), np.ones(4))
    with pytest.raises(BadInputError, match="unknown correlation measure"):
        pearson_measure("nope", np.ones(10), np.ones(10))
    with pytest.raises(BadInputError, match="fraction"):
        pearson_measure("xcorr-paper", np.ones(10), np.ones(10), fraction=0.0)
    with pytest.raises(BadInputError, match="NaN"):
        pearson_measure("seed-xcorrelation", np.array([0.1, np.nan]), np.ones(10))
