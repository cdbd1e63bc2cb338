r"""The original experiment's correlation measures, and the paper's formula with the original's 10 %.

The paper writes its consistency score as :math:`\rho_{\max}(\hat x, y) = \max_m |\sum_n \hat x[n]\,y[n-m]|`
"over approximately 10 % of the samples", threshold 0.4. Its authors' MATLAB code (public repository
Hui-Xie/AdversarialDefense) computes Pearson correlation coefficients (``corrcoef``: means removed, unit
variances), signed, in three ways; each is a function here, named after the file it follows:

=====================  =============================  ==========================================================
measure                original file                  what it computes
=====================  =============================  ==========================================================
``seed-corrcoef``      ``correlation.m``              both signals cut to ``min(N1, N2)``; Pearson at zero lag
                                                      over a random ~10 % of the sample indices (sorted uniform
                                                      draws, the *same* indices in both signals)
``seed-xcorrelation``  ``Xcorrelation.m``             both cut to the shorter length; the lag of the maximum of
                                                      the raw (signed) cross-correlation over all lags; the
                                                      observed signal circularly shifted by it; Pearson over all
                                                      samples (the measure of the recorded experiment's final
                                                      analysis script, ``RecordedTargetedAdvSampleAnalyze.m``)
``seed-stretched``     ``ReconstructedCorr.m``,       the re-synthesis resampled (time-stretched) to the
                       ``generate1KUntargetedAdv.m``  input's length, then Pearson at zero lag over all samples
``xcorr-paper``        the paper's formula            the lag maximising :math:`|\sum_n \hat x[n]\,y[n+m]|`
                                                      over the whole signals (linear, not circular); then
                                                      Pearson at that lag over a random 10 % of the overlapping
                                                      samples (same indices in both), drawn as ``correlation.m``
                                                      draws them
=====================  =============================  ==========================================================

Why ``xcorr-paper`` reads the text this way: the formula maximises an absolute cross-correlation over lags,
and the only "10 % of the samples" the original code ever uses is ``correlation.m``'s random subset of
indices, never a contiguous slice. (synthcheck's earlier reading, a contiguous 10 % slice slid over the
input with per-window normalisation, is kept as ``xcorr-template`` in :mod:`synthcheck.audio.correlation`;
a quarter-second slice of one sentence finds a matching stretch in almost any other sentence of the same
voice, which is why it never dropped below 0.4.)

Conventions shared by all four:

* ``rho`` is signed, in [-1, 1]; detectors threshold ``|rho|`` (a polarity-inverting chain stays
  consistent, except under ``seed-xcorrelation``, which like ``Xcorrelation.m`` shifts to the *signed*
  maximum of the cross-correlation and so lines an inverted input up at a weaker lag). ``lag`` follows :mod:`synthcheck.audio.correlation`: reference sample ``i`` lines up with
  observed sample ``i + lag``.
* Fewer than two compared samples, or a constant (e.g. silent) signal on either side, give ``rho = 0``:
  a score, never NaN.
* The random indices come from ``numpy.random.default_rng(seed)``, drawn anew in each call, so a measure is
  a deterministic function of its inputs and ``seed``.

Deviations from the MATLAB code, all deliberate: indices are 0-based (the draw is the same, shifted);
``seed-stretched`` resamples by FFT (:func:`scipy.signal.resample`) where MATLAB's ``resample(x, p, q)``
filters polyphase with a Kaiser window: both are band-limited interpolations and differ only near the edges.
``seed-xcorrelation`` shifts the observed signal where ``Xcorrelation.m`` shifts its second argument; a circular
shift of one signal by ``m`` and of the other by ``-m`` pair the same samples, so the coefficient is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal

from synthcheck.audio.io import validate_audio
from synthcheck.errors import BadInputError

PearsonMeasure = Literal["seed-corrcoef", "seed-xcorrelation", "seed-stretched", "xcorr-paper"]
#: The measures of this module, by name.
PEARSON_MEASURES: tuple[str, ...] = ("seed-corrcoef", "seed-xcorrelation", "seed-stretched", "xcorr-paper")
#: The original file (or the paper) each measure follows.
ORIGIN = {
    "seed-corrcoef": "correlation.m",
    "seed-xcorrelation": "Xcorrelation.m",
    "seed-stretched": "ReconstructedCorr.m / generate1KUntargetedAdv.m",
    "xcorr-paper": "the paper's formula, with correlation.m's random 10 %",
}
#: Share of the samples the random-subset measures use (the original's 0.1).
SAMPLE_FRACTION = 0.1


@dataclass(frozen=True)
class PearsonResult:
    """A signed Pearson correlation of a re-synthesis and an input.

    Attributes
    ----------
    rho
        Pearson correlation coefficient in [-1, 1] (0 when undefined).
    lag
        Delay of the observed signal relative to the reference at which it was computed (0 for zero-lag
        measures).
    n_samples
        How many sample pairs entered the coefficient.
    """

    rho: float
    lag: int
    n_samples: int

    @property
    def score(self) -> float:
        """``|rho|``, the value detectors threshold."""
        return abs(self.rho)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient of two equal-length arrays (MATLAB ``corrcoef(a, b)(1, 2)``).

    Returns 0.0 (not NaN) for fewer than two samples or when either array is constant.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise BadInputError(f"pearson: need two 1-D arrays of one length, got shapes {a.shape} and {b.shape}")
    if a.size < 2:
        return 0.0
    da, db = a - a.mean(), b - b.mean()
    denominator = np.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    # Relative floor: a "constant" signal with rounding residue must not produce a huge spurious value.
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), np.finfo(np.float64).tiny)
    if denominator <= 1e-24 * scale * scale * a.size:
        return 0.0
    return float(np.clip(np.dot(da, db) / denominator, -1.0, 1.0))


def random_indices(n: int, rng: np.random.Generator, fraction: float = SAMPLE_FRACTION) -> np.ndarray:
    """``correlation.m``'s sample indices into ``n`` samples, 0-based.

    ``round(fraction * n)`` sorted uniform draws scaled to ``[0, n]`` and rounded; draws that round to 0 are
    dropped (MATLAB's 1-based index 0 does not exist), the rest shifted to 0-based. Duplicates can occur, as in
    the original.
    """
    count = int(round(fraction * n))
    idx = np.round(np.sort(rng.random(count)) * n).astype(np.int64)
    return idx[idx > 0] - 1


def cross_correlation(reference: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw linear cross-correlation ``c[m] = sum_i reference[i] * observed[i + m]`` over every lag, by FFT.

    Returns
    -------
    lags, values
        ``lags`` runs from ``-(len(reference) - 1)`` to ``len(observed) - 1``.
    """
    n_ref, n_obs = reference.size, observed.size
    n_fft = sp_fft.next_fast_len(n_ref + n_obs - 1, real=True)
    spectrum = sp_fft.rfft(observed, n_fft)
    spectrum *= sp_fft.rfft(reference, n_fft).conj()
    circular = sp_fft.irfft(spectrum, n_fft, overwrite_x=True)
    values = np.concatenate((circular[n_fft - (n_ref - 1) :], circular[:n_obs])) if n_ref > 1 else circular[:n_obs]
    return np.arange(-(n_ref - 1), n_obs), values


def seed_corrcoef(reference: np.ndarray, observed: np.ndarray, *, seed: int = 0,
                  fraction: float = SAMPLE_FRACTION) -> PearsonResult:
    """``correlation.m``: zero-lag Pearson over a random ``fraction`` of the first ``min(N1, N2)`` indices."""
    ref, obs = _inputs(reference, observed)
    n = min(ref.size, obs.size)
    idx = random_indices(n, np.random.default_rng(seed), fraction)
    return PearsonResult(pearson(ref[idx], obs[idx]), 0, int(idx.size))


def seed_xcorrelation(reference: np.ndarray, observed: np.ndarray) -> PearsonResult:
    """``Xcorrelation.m``: cut to the shorter length, circular shift to the raw cross-correlation's maximum,
    Pearson over all samples."""
    ref, obs = _inputs(reference, observed)
    n = min(ref.size, obs.size)
    ref, obs = ref[:n], obs[:n]
    lags, values = cross_correlation(ref, obs)
    lag = int(lags[int(np.argmax(values))])
    # reference[i] lines up with observed[i + lag]; circularly, as MATLAB's circshift does.
    return PearsonResult(pearson(ref, np.roll(obs, -lag)), lag, n)


def seed_stretched(reference: np.ndarray, observed: np.ndarray) -> PearsonResult:
    """``ReconstructedCorr.m``: the reference resampled to the observed length, zero-lag Pearson over all samples."""
    ref, obs = _inputs(reference, observed)
    stretched = ref if ref.size == obs.size else sp_signal.resample(ref, obs.size)
    return PearsonResult(pearson(stretched, obs), 0, obs.size)


def paper_xcorr(reference: np.ndarray, observed: np.ndarray, *, seed: int = 0,
                fraction: float = SAMPLE_FRACTION) -> PearsonResult:
    """The paper's formula: the lag maximising ``|cross-correlation|`` of the whole signals, then Pearson at that
    lag over a random ``fraction`` of the overlapping samples (the same indices in both signals)."""
    ref, obs = _inputs(reference, observed)
    lags, values = cross_correlation(ref, obs)
    lag = int(lags[int(np.argmax(np.abs(values)))])
    start, stop = max(0, -lag), min(ref.size, obs.size - lag)
    idx = start + random_indices(stop - start, np.random.default_rng(seed), fraction)
    return PearsonResult(pearson(ref[idx], obs[idx + lag]), lag, int(idx.size))


def pearson_measure(name: str, reference: np.ndarray, observed: np.ndarray, *, seed: int = 0,
                    fraction: float = SAMPLE_FRACTION) -> PearsonResult:
    """The measure called ``name`` (one of :data:`PEARSON_MEASURES`) of ``reference`` against ``observed``.

    Raises
    ------
    BadInputError
        Unknown name, a fraction outside (0, 1], or inputs that are not finite non-empty 1-D audio.
    """
    if not 0.0 < fraction <= 1.0:
        raise BadInputError(f"sample fraction must be in (0, 1], got {fraction}")
    if name == "seed-corrcoef":
        return seed_corrcoef(reference, observed, seed=seed, fraction=fraction)
    if name == "seed-xcorrelation":
        return seed_xcorrelation(reference, observed)
    if name == "seed-stretched":
        return seed_stretched(reference, observed)
    if name == "xcorr-paper":
        return paper_xcorr(reference, observed, seed=seed, fraction=fraction)
    raise BadInputError(f"unknown correlation measure {name!r}; choose one of: {', '.join(PEARSON_MEASURES)}")


def _inputs(reference: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = validate_audio(reference, name="reference", allow_silent=True).astype(np.float64)
    obs = validate_audio(observed, name="observed", allow_silent=True).astype(np.float64)
    return ref, obs


__all__ = [
    "ORIGIN",
    "PEARSON_MEASURES",
    "PearsonMeasure",
    "PearsonResult",
    "SAMPLE_FRACTION",
    "cross_correlation",
    "paper_xcorr",
    "pearson",
    "pearson_measure",
    "random_indices",
    "seed_corrcoef",
    "seed_stretched",
    "seed_xcorrelation",
]
