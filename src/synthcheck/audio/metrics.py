r"""Distortion and accuracy metrics.

- :func:`db_x` — Carlini & Wagner's relative loudness of a perturbation
  :math:`\mathrm{dB}_x(\delta) = 20\log_{10}\max|\delta| - 20\log_{10}\max|x|`.
- :func:`snr_db` — energy SNR :math:`10\log_{10}(\lVert s\rVert^2 / \lVert n\rVert^2)`; for an adversarial
  example the signal is the clean input and the noise is :math:`\delta`.
- :func:`fitted_snr_db` — SNR of :math:`y = \alpha x + w` after fitting the delay and the attenuation
  :math:`\alpha` by least squares: :math:`10\log_{10}(\lVert \alpha x\rVert^2 / \lVert w\rVert^2)`.
- :func:`word_error_rate` — WER (jiwer) after :func:`normalize_text`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import numpy as np
from scipy import fft as sp_fft

from synthcheck.audio.io import validate_audio
from synthcheck.errors import BadInputError

_APOSTROPHES = frozenset("'\u2019\u02bc")
_WHITESPACE = re.compile(r"\s+")


def db_x(delta: np.ndarray, x: np.ndarray) -> float:
    """Loudness of ``delta`` relative to ``x`` in dB: ``20·log10 max|δ| − 20·log10 max|x|``.

    Returns ``-inf`` for an all-zero ``delta``.

    Raises
    ------
    BadInputError
        Empty or non-finite input, or silent ``x`` (the ratio is undefined).
    """
    delta = validate_audio(delta, name="delta", allow_silent=True)
    x = validate_audio(x, name="x", allow_silent=True)
    peak_x = float(np.max(np.abs(x)))
    if peak_x == 0.0:
        raise BadInputError("db_x: the reference signal x is all zeros; dB_x is undefined")
    peak_delta = float(np.max(np.abs(delta)))
    if peak_delta == 0.0:
        return float("-inf")
    return 20.0 * float(np.log10(peak_delta)) - 20.0 * float(np.log10(peak_x))


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """Energy SNR ``10·log10(‖signal‖² / ‖noise‖²)`` in dB (``inf`` for zero noise).

    Raises
    ------
    BadInputError
        Empty or non-finite input, or both signal and noise all zeros.
    """
    signal_energy = _energy(validate_audio(signal, name="signal", allow_silent=True))
    noise_energy = _energy(validate_audio(noise, name="noise", allow_silent=True))
    if signal_energy == 0.0 and noise_energy == 0.0:
        raise BadInputError("snr_db: signal and noise are both all zeros; the SNR is undefined")
    return _ratio_db(signal_energy, noise_energy)


@dataclass(frozen=True)
class FittedSnr:
    """Result of :func:`fitted_snr_db`: SNR (dB), fitted attenuation, delay (``x[i]`` ~ ``y[i + lag]``)."""

    snr_db: float
    alpha: float
    lag: int


def fitted_snr_db(x: np.ndarray, y: np.ndarray, max_lag: int | None = None) -> FittedSnr:
    """SNR of ``y = α·x(· − lag) + w`` with ``lag`` and ``α`` fitted by least squares.

    The lag minimises the residual energy, i.e. maximises ``c(lag)² / ‖x_overlap(lag)‖²`` where ``c`` is the
    cross-correlation (one FFT for all lags, limited to ``|lag| <= max_lag``). Then
    ``α = <x, y>/‖x‖²`` on the overlap, ``w = y − α·x`` over all of ``y`` (parts of ``y`` that ``x`` does not
    cover count as noise; parts of ``x`` outside ``y`` are ignored), and the SNR is
    ``10·log10(‖α x_overlap‖² / ‖w‖²)``. ``x`` and ``y`` may differ in length.

    Raises
    ------
    BadInputError
        Empty or non-finite input, silent ``x`` or ``y``, or negative ``max_lag``.
    """
    x64 = validate_audio(x, name="x", allow_silent=True).astype(np.float64)
    y64 = validate_audio(y, name="y", allow_silent=True).astype(np.float64)
    if not np.any(x64) or not np.any(y64):
        raise BadInputError("fitted_snr_db: x or y is all zeros; the fitted SNR is undefined")
    if max_lag is not None and max_lag < 0:
        raise BadInputError(f"fitted_snr_db: max_lag must be >= 0, got {max_lag}")
    nx, ny = x64.size, y64.size
    lags = np.arange(-(nx - 1), ny)
    n_fft = sp_fft.next_fast_len(nx + ny - 1, real=True)
    spectrum = sp_fft.rfft(y64, n_fft) * sp_fft.rfft(x64[::-1], n_fft)
    corr = sp_fft.irfft(spectrum, n_fft)[: nx + ny - 1]  # corr[j] = sum_i x[i] y[i + lags[j]]
    cum_x = np.concatenate(([0.0], np.cumsum(np.square(x64))))
    overlap_energy = cum_x[np.minimum(nx, ny - lags)] - cum_x[np.maximum(0, -lags)]
    usable = overlap_energy > 1e-12 * cum_x[-1]
    if max_lag is not None:
        usable &= np.abs(lags) <= max_lag
    explained = np.zeros_like(corr)
    explained[usable] = np.square(corr[usable]) / overlap_energy[usable]
    lag = int(lags[np.argmax(explained)])

    lo, hi = max(0, -lag), min(nx, ny - lag)
    x_part = x64[lo:hi]
    y_part = y64[lo + lag : hi + lag]
    alpha = float(np.dot(x_part, y_part) / np.dot(x_part, x_part))
    residual = y64.copy()
    residual[lo + lag : hi + lag] -= alpha * x_part
    return FittedSnr(
        snr_db=_ratio_db(alpha * alpha * _energy(x_part), _energy(residual)), alpha=alpha, lag=lag
    )


def normalize_text(text: str) -> str:
    """Lower-case, drop apostrophes (``don't`` → ``dont``), turn other punctuation into spaces, collapse
    whitespace. ``"It was the best of times."`` → ``"it was the best of times"``."""
    chars = []
    for ch in text.lower():
        if ch in _APOSTROPHES:
            continue
        chars.append(" " if unicodedata.category(ch).startswith("P") else ch)
    return _WHITESPACE.sub(" ", "".join(chars)).strip()


def word_error_rate(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after :func:`normalize_text`.

    Lists give the corpus WER (total edits / total reference words).

    Raises
    ------
    BadInputError
        A reference with no words, or lists of different lengths.
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise BadInputError(f"word_error_rate: {len(refs)} references but {len(hyps)} hypotheses")
    refs = [normalize_text(r) for r in refs]
    hyps = [normalize_text(h) for h in hyps]
    if not refs or any(not r for r in refs):
        raise BadInputError("word_error_rate: a reference transcript has no words")
    return float(jiwer.wer(refs, hyps))


def _energy(a: np.ndarray) -> float:
    a64 = np.asarray(a, dtype=np.float64)
    return float(np.dot(a64, a64))


def _ratio_db(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return float("inf")
    if numerator == 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(numerator / denominator))
