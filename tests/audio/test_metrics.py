"""dB_x, energy SNR, attenuation-fitted SNR and WER with text normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthcheck.audio.metrics import db_x, fitted_snr_db, normalize_text, snr_db, word_error_rate
from synthcheck.errors import BadInputError


def test_db_x_known_values() -> None:
    x = np.array([0.5, -1.0, 0.25], np.float32)
    assert db_x(np.array([0.0, 0.01, -0.001], np.float32), x) == pytest.approx(-40.0)
    assert db_x(np.array([0.0, 0.0, -2.0], np.float32), x) == pytest.approx(20 * math.log10(2.0))
    assert db_x(np.zeros(3, np.float32), x) == float("-inf")


def test_db_x_of_silent_reference_is_an_error() -> None:
    with pytest.raises(BadInputError, match="all zeros"):
        db_x(np.ones(3), np.zeros(3))


def test_snr_db_known_values() -> None:
    signal = np.full(100, 0.5)
    assert snr_db(signal, np.full(100, 0.05)) == pytest.approx(20.0)
    assert snr_db(signal, np.zeros(100)) == float("inf")
    assert snr_db(np.zeros(10), np.ones(10)) == float("-inf")
    with pytest.raises(BadInputError, match="both all zeros"):
        snr_db(np.zeros(5), np.zeros(5))
    with pytest.raises(BadInputError, match="NaN"):
        snr_db(np.array([0.1, np.inf]), np.ones(2))


def make_fitted_case(alpha: float, lag: int, snr: float, n: int = 20_000) -> tuple[np.ndarray, np.ndarray, float]:
    """y = alpha * x delayed by lag + w with w scaled to exactly the requested SNR on the overlap."""
    rng = np.random.default_rng(abs(lag) + n)
    x = rng.uniform(-0.5, 0.5, n)
    y = np.zeros(n)
    if lag >= 0:
        y[lag:] = alpha * x[: n - lag]
        signal_energy = alpha**2 * np.sum(x[: n - lag] ** 2)
    else:
        y[:lag] = alpha * x[-lag:]
        signal_energy = alpha**2 * np.sum(x[-lag:] ** 2)
    w = rng.standard_normal(n)
    w *= math.sqrt(signal_energy / 10 ** (snr / 10) / np.sum(w**2))
    return x, y + w, snr


@pytest.mark.parametrize(("alpha", "lag"), [(1.0, 0), (0.3, 250), (-0.7, -90)])
def test_fitted_snr_recovers_alpha_lag_and_snr(alpha: float, lag: int) -> None:
    x, y, snr = make_fitted_case(alpha, lag, 25.0)
    fit = fitted_snr_db(x, y)
    assert fit.lag == lag
    assert fit.alpha == pytest.approx(alpha, rel=0.01)
    assert fit.snr_db == pytest.approx(snr, abs=0.05)


def test_fitted_snr_with_different_lengths() -> None:
    x, y, _ = make_fitted_case(0.5, 0, 30.0)
    trimmed = fitted_snr_db(x[100:], y)  # y is longer; x[100:] lines up 100 samples later
    assert trimmed.lag == 100
    assert trimmed.alpha == pytest.approx(0.5, rel=0.01)
    assert 20.0 < trimmed.snr_db < 30.0  # the 100 unexplained samples of y count as noise


def test_fitted_snr_respects_max_lag() -> None:
    x, y, _ = make_fitted_case(1.0, 400, 30.0)
    assert fitted_snr_db(x, y).lag == 400
    limited = fitted_snr_db(x, y, max_lag=100)
    assert abs(limited.lag) <= 100
    assert limited.snr_db < 1.0  # misaligned white noise explains almost nothing


def test_fitted_snr_perfect_copy_is_infinite_and_silence_is_an_error() -> None:
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 1000).astype(np.float32)
    assert fitted_snr_db(x, x).snr_db > 100.0
    with pytest.raises(BadInputError, match="all zeros"):
        fitted_snr_db(x, np.zeros(1000))
    with pytest.raises(BadInputError, match="max_lag"):
        fitted_snr_db(x, x, max_lag=-1)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("It was the best of times.", "it was the best of times"),
        ("  It was   the AGE of wisdom,\tit was... ", "it was the age of wisdom it was"),
        ("Don't stop—well-known!", "dont stop well known"),
        ("“Quoted” (text); here?", "quoted text here"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, normalised: str) -> None:
    assert normalize_text(raw) == normalised


def test_word_error_rate_ignores_case_and_punctuation() -> None:
    assert word_error_rate("it was the best of times", "It was the best of times.") == 0.0
    assert word_error_rate("it was the best of times", "It was the worst of times.") == pytest.approx(1 / 6)
    assert word_error_rate("we had everything before us", "") == 1.0


def test_corpus_word_error_rate_pools_words() -> None:
    refs = ["it was the age of wisdom", "it was the age of foolishness"]
    hyps = ["It was the age of wisdom.", "It was the edge of foolishness"]
    assert word_error_rate(refs, hyps) == pytest.approx(1 / 12)


def test_word_error_rate_bad_input() -> None:
    with pytest.raises(BadInputError, match="no words"):
        word_error_rate(" ...", "anything")
    with pytest.raises(BadInputError, match="2 references but 1"):
        word_error_rate(["a", "b"], ["a"])
