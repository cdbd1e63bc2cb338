"""ρ_max by FFT against the direct lag-by-lag oracle, on random signals, real speech and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.audio.correlation import (
    direct_normalized_xcorr,
    direct_xcorr_scores,
    max_normalized_xcorr,
    normalized_xcorr_scores,
)
from synthcheck.errors import BadInputError

TOL = 1e-6


def assert_same_result(reference: np.ndarray, observed: np.ndarray, **kwargs) -> None:
    fast = max_normalized_xcorr(reference, observed, **kwargs)
    slow = direct_normalized_xcorr(reference, observed, **kwargs)
    assert abs(fast.score - slow.score) < TOL
    assert (fast.template_start, fast.template_length) == (slow.template_start, slow.template_length)
    assert 0.0 <= fast.score <= 1.0


@pytest.mark.parametrize(
    ("n_ref", "n_obs", "kwargs"),
    [
        (3000, 5000, {}),
        (5000, 3000, {}),
        (4000, 4000, {"template_position": "energy"}),
        (2000, 6000, {"mode": "full"}),
        (6000, 2000, {"mode": "full"}),
        (5000, 300, {}),  # template (500) longer than observed: roles swap
        (1000, 1000, {"template_fraction": 1.0}),
        (997, 4001, {"template_fraction": 0.37}),
    ],
)
def test_fft_matches_direct_loop_on_random_signals(n_ref: int, n_obs: int, kwargs: dict) -> None:
    rng = np.random.default_rng(n_ref * 7 + n_obs)
    reference = rng.uniform(-0.5, 0.5, n_ref).astype(np.float32)
    observed = rng.uniform(-0.5, 0.5, n_obs).astype(np.float32)
    assert_same_result(reference, observed, **kwargs)


def test_score_arrays_match_direct_at_every_lag() -> None:
    rng = np.random.default_rng(1)
    signal = rng.standard_normal(6000) * np.linspace(0.01, 1.0, 6000)
    template = rng.standard_normal(700)
    fast = normalized_xcorr_scores(template, signal)
    slow = direct_xcorr_scores(template, signal)
    assert fast.shape == (6000 - 700 + 1,)
    np.testing.assert_allclose(fast, slow, atol=TOL, rtol=0)


def test_direct_scores_on_a_subset_of_offsets() -> None:
    rng = np.random.default_rng(2)
    signal, template = rng.standard_normal(3000), rng.standard_normal(300)
    offsets = np.array([0, 17, 2700])
    expected = normalized_xcorr_scores(template, signal)[offsets]
    np.testing.assert_allclose(direct_xcorr_scores(template, signal, offsets), expected, atol=TOL)


@pytest.mark.parametrize("delay", [0, 123, 4000])
@pytest.mark.parametrize("gain", [0.3, -0.8])
def test_recovers_delay_and_polarity(delay: int, gain: float) -> None:
    rng = np.random.default_rng(delay)
    reference = rng.uniform(-0.5, 0.5, 8000).astype(np.float32)
    observed = np.concatenate([np.zeros(delay, np.float32), gain * reference, np.zeros(500, np.float32)])
    observed += rng.normal(0.0, 1e-3, observed.size).astype(np.float32)
    result = max_normalized_xcorr(reference, observed)
    assert result.lag == delay
    assert result.score > 0.99
    assert result.template_length == 800
    assert result.template_start == (8000 - 800) // 2


def test_swapped_roles_report_negative_lag() -> None:
    rng = np.random.default_rng(3)
    reference = rng.uniform(-0.5, 0.5, 10_000)
    observed = reference[4520:4820]  # 300 samples, shorter than the 1000-sample template
    result = max_normalized_xcorr(reference, observed)
    assert result.score == pytest.approx(1.0, abs=1e-9)
    assert result.lag == -4520


def test_full_mode_with_longer_reference_finds_the_excerpt() -> None:
    rng = np.random.default_rng(4)
    reference = rng.uniform(-0.5, 0.5, 6000)
    result = max_normalized_xcorr(reference, reference[1000:2500] * 0.1, mode="full")
    assert result.score == pytest.approx(1.0, abs=1e-9)
    assert result.lag == -1000
    assert (result.template_start, result.template_length) == (0, 6000)


def test_score_is_scale_invariant_and_unrelated_noise_scores_low() -> None:
    rng = np.random.default_rng(5)
    reference = rng.standard_normal(20_000)
    observed = rng.standard_normal(20_000)
    loud = max_normalized_xcorr(reference, observed).score
    quiet = max_normalized_xcorr(reference, 1e-3 * observed).score
    assert loud == pytest.approx(quiet, abs=1e-9)
    assert loud < 0.25  # independent white noise: about 4.5/sqrt(2000)


def test_real_speech_matches_direct_and_separates_texts(pico_speech) -> None:
    spoken = pico_speech("It was the best of times, it was the worst of times.")
    other = pico_speech("He travels the fastest who travels alone.")
    rng = np.random.default_rng(6)
    noisy = (0.6 * spoken + rng.normal(0.0, 0.01, spoken.size)).astype(np.float32)
    same = max_normalized_xcorr(spoken, noisy)
    different = max_normalized_xcorr(spoken, other)
    assert same.score > 0.9 and same.lag == 0
    # Same voice, different words: voiced frames still correlate (about 0.5 here), but clearly less.
    assert different.score < same.score - 0.3
    assert_same_result(spoken, noisy)
    assert_same_result(spoken, other)
    assert_same_result(other, spoken, template_position="energy")


def test_loud_speech_then_digital_silence_scores_zero_in_silence(pico_speech) -> None:
    speech = pico_speech("It was the age of wisdom.")
    observed = np.concatenate([speech * 0.9 / np.max(np.abs(speech)), np.zeros(20_000, np.float32)])
    template = speech[speech.size // 2 : speech.size // 2 + 1600].astype(np.float64)
    scores = normalized_xcorr_scores(template, observed)
    assert np.all(np.isfinite(scores)) and scores.max() <= 1.0
    assert np.all(scores[speech.size :] == 0.0)
    np.testing.assert_allclose(scores, direct_xcorr_scores(template, observed), atol=TOL)


def test_near_silent_tail_after_loud_part_is_treated_as_silent() -> None:
    # A 1e-20 tail is not exactly zero, so only the energy tolerance protects it from cumsum cancellation.
    rng = np.random.default_rng(7)
    loud = rng.uniform(-1.0, 1.0, 50_000)
    tail = 1e-20 * rng.standard_normal(20_000)
    template = rng.uniform(-1.0, 1.0, 1000)
    scores = normalized_xcorr_scores(template, np.concatenate([loud, tail]))
    assert np.all(scores[50_000:] == 0.0)
    assert np.all(np.isfinite(scores)) and scores.max() <= 1.0


def test_silent_template_or_observed_scores_zero() -> None:
    noise = np.random.default_rng(8).uniform(-0.5, 0.5, 4000).astype(np.float32)
    silence = np.zeros(4000, np.float32)
    assert max_normalized_xcorr(silence, noise).score == 0.0
    assert max_normalized_xcorr(noise, silence).score == 0.0
    assert direct_normalized_xcorr(noise, silence).score == 0.0


@pytest.mark.parametrize("n_ref", range(1, 11))
@pytest.mark.parametrize("n_obs", [1, 2, 5, 10])
def test_very_short_inputs(n_ref: int, n_obs: int) -> None:
    rng = np.random.default_rng(100 * n_ref + n_obs)
    reference = rng.uniform(-0.5, 0.5, n_ref).astype(np.float32)
    observed = rng.uniform(-0.5, 0.5, n_obs).astype(np.float32)
    for mode in ("template", "full"):
        assert_same_result(reference, observed, mode=mode)
    # 10 % of at most 10 samples rounds to a one-sample template, which matches any non-zero sample.
    result = max_normalized_xcorr(reference, observed)
    assert result.template_length == 1
    assert result.score == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("reference", "observed", "kwargs", "message"),
    [
        (np.zeros((2, 100)), np.ones(100), {}, "1-D"),
        (np.ones(100), np.array([]), {}, "empty"),
        (np.ones(100), np.array([0.1, np.nan]), {}, "NaN"),
        (np.ones(100), np.ones(100), {"mode": "cosine"}, "mode"),
        (np.ones(100), np.ones(100), {"template_fraction": 0.0}, "template_fraction"),
        (np.ones(100), np.ones(100), {"template_position": "start"}, "template_position"),
    ],
)
def test_bad_input_is_a_clear_error(reference, observed, kwargs, message) -> None:
    with pytest.raises(BadInputError, match=message):
        max_normalized_xcorr(reference, observed, **kwargs)


def test_template_longer_than_signal_is_rejected_by_the_score_function() -> None:
    with pytest.raises(BadInputError, match="longer than the signal"):
        normalized_xcorr_scores(np.ones(10), np.ones(5))


def test_energy_template_avoids_a_silent_centre() -> None:
    rng = np.random.default_rng(9)
    burst = rng.uniform(-0.5, 0.5, 1500).astype(np.float32)
    reference = np.concatenate([burst, np.zeros(2000, np.float32), burst[::-1]])
    observed = np.concatenate([np.zeros(300, np.float32), reference])
    centre = max_normalized_xcorr(reference, observed)
    energy = max_normalized_xcorr(reference, observed, template_position="energy")
    assert centre.score == 0.0  # the centre 10 % of the reference is digital silence
    assert energy.score == pytest.approx(1.0, abs=1e-6)
    assert energy.lag == 300


def test_quiet_passage_after_long_loud_part_matches_direct() -> None:
    # -80 dB noise after 30 s of full-scale noise: window energies must not inherit the rounding error of
    # the running total (a plain cumulative sum is off by ~1e-6 in score here).
    rng = np.random.default_rng(10)
    signal = np.concatenate([rng.uniform(-1.0, 1.0, 500_000), 1e-4 * rng.standard_normal(30_000)])
    template = rng.uniform(-1.0, 1.0, 2000)
    offsets = np.arange(500_000, 528_001, 97)
    np.testing.assert_allclose(
        normalized_xcorr_scores(template, signal)[offsets],
        direct_xcorr_scores(template, signal, offsets),
        atol=1e-7,
        rtol=0,
    )
