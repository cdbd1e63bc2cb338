"""Speaker-normalised speech features: MFCC with per-utterance mean/variance normalisation, in torch.

One implementation serves both uses. Every feature function below computes in float64 torch and accepts
either a numpy array or a torch tensor (see :func:`numpy_or_torch`): numpy in, numpy out without gradients
(what :class:`~synthcheck.detect.dtw_comparator.DtwComparator` uses); a tensor in, a tensor out whose
gradient reaches the input (what an adaptive attack differentiates, :func:`speech_features_torch`).

Inputs are library audio (16 kHz mono) and everything is vectorised over frames. Frames are 25 ms Hamming
windows every 10 ms; a frame matrix has shape ``(frames, coefficients)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

import numpy as np
import torch
from scipy.fft import dct

from synthcheck.audio.io import SAMPLE_RATE

#: Analysis window and hop in samples at 16 kHz (25 ms / 10 ms).
FRAME_LENGTH = 400
HOP_LENGTH = 160
N_FFT = 512
N_MELS = 40
#: Cepstral coefficients kept (c1..c13; c0, the loudness, is dropped: it carries level, not content).
N_MFCC = 13
PRE_EMPHASIS = 0.97
#: Half-width in frames of the delta regression window.
DELTA_WIDTH = 2
#: Frames quieter than this many dB below the loudest frame count as silence in :func:`speech_bounds`.
SILENCE_DB = 35.0


def numpy_or_torch(function: Callable[..., torch.Tensor]) -> Callable[..., Any]:
    """Let a function of float64 tensors also take numpy arrays.

    Positional numpy arrays are converted to float64 tensors (other arguments pass unchanged). When no
    positional argument is a tensor, the function runs without gradients and returns a numpy array;
    otherwise it returns the tensor, differentiable with respect to the tensor arguments.
    """

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        converted = [torch.from_numpy(a.astype(np.float64)) if isinstance(a, np.ndarray) else a for a in args]
        if any(isinstance(a, torch.Tensor) for a in args):
            return function(*converted, **kwargs)
        with torch.no_grad():
            return function(*converted, **kwargs).numpy()

    return wrapper


@numpy_or_torch
def frame_signal(audio: torch.Tensor) -> torch.Tensor:
    """Split audio into overlapping frames, shape ``(frames, FRAME_LENGTH)`` (zero-padded to one frame)."""
    audio = audio.to(torch.float64)
    if audio.numel() < FRAME_LENGTH:
        audio = torch.nn.functional.pad(audio, (0, FRAME_LENGTH - audio.numel()))
    return audio.unfold(0, FRAME_LENGTH, HOP_LENGTH)


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular HTK-mel filters, shape ``(n_mels, n_fft // 2 + 1)``, 0 Hz to Nyquist."""
    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    mel_points = np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters.setflags(write=False)
    return filters


@lru_cache(maxsize=1)
def _analysis_matrices() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Hamming window, the transposed mel filterbank and the orthonormal DCT-II matrix (float64 tensors)."""
    window = torch.from_numpy(np.hamming(FRAME_LENGTH))
    mel = torch.from_numpy(np.ascontiguousarray(mel_filterbank().T))
    cosine = torch.from_numpy(dct(np.eye(N_MELS), type=2, norm="ortho", axis=1))
    return window, mel, cosine


@numpy_or_torch
def log_mel_spectrogram(audio: torch.Tensor) -> torch.Tensor:
    """Log mel power per frame, shape ``(frames, N_MELS)``."""
    audio = audio.to(torch.float64)
    window, mel, _ = _analysis_matrices()
    emphasised = torch.cat([audio[:1], audio[1:] - PRE_EMPHASIS * audio[:-1]])
    spectrum = torch.fft.rfft(frame_signal(emphasised) * window, n=N_FFT, dim=1)
    power = spectrum.real.square() + spectrum.imag.square()  # |X|² without abs(): finite gradient at 0
    return torch.log(power @ mel + 1e-10)


@numpy_or_torch
def mfcc(audio: torch.Tensor, n_mfcc: int = N_MFCC) -> torch.Tensor:
    """Mel-frequency cepstral coefficients c1..c{n_mfcc}, shape ``(frames, n_mfcc)``."""
    _, _, cosine = _analysis_matrices()
    return log_mel_spectrogram(audio) @ cosine[:, 1 : n_mfcc + 1]


@numpy_or_torch
def cmvn(features: torch.Tensor) -> torch.Tensor:
    """Per-utterance cepstral mean and variance normalisation (each column to mean 0, std 1)."""
    centred = features - features.mean(dim=0)
    variance = centred.square().mean(dim=0)
    # A constant column is only centred; selecting before the sqrt keeps its gradient finite.
    return centred / torch.where(variance > 1e-16, variance, torch.ones_like(variance)).sqrt()


@numpy_or_torch
def deltas(features: torch.Tensor, width: int = DELTA_WIDTH) -> torch.Tensor:
    """Regression deltas over ±``width`` frames (edges repeated), same shape as ``features``."""
    n = len(features)
    padded = torch.cat([features[:1].expand(width, -1), features, features[-1:].expand(width, -1)])
    weights = range(1, width + 1)
    slopes = sum(k * (padded[width + k : width + k + n] - padded[width - k : width - k + n]) for k in weights)
    return slopes / (2.0 * sum(k * k for k in weights))


@numpy_or_torch
def frame_energy_db(audio: torch.Tensor) -> torch.Tensor:
    """Frame energy in dB (10·log10 of mean square), one value per :func:`frame_signal` frame."""
    return 10.0 * torch.log10(frame_signal(audio).square().mean(dim=1) + 1e-12)


def speech_bounds(audio: np.ndarray | torch.Tensor, silence_db: float = SILENCE_DB) -> tuple[int, int]:
    """First and one-past-last frame index whose energy is within ``silence_db`` of the loudest frame.

    A discrete choice: a tensor is detached first (no gradient flows through the bounds).
    """
    if not isinstance(audio, torch.Tensor):
        audio = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    energy = frame_energy_db(audio.detach())
    loud = torch.nonzero(energy >= energy.max() - silence_db).flatten()
    return int(loud[0]), int(loud[-1]) + 1


def speech_features_torch(
    audio: torch.Tensor, bounds: tuple[int, int] | None = None, n_mfcc: int = N_MFCC
) -> torch.Tensor:
    """CMVN-normalised MFCCs with deltas and delta-deltas (``3 * n_mfcc`` columns) of the speech part of ``audio``.

    Differentiable: the gradient of the float64 result reaches the waveform ``audio`` (1-D tensor).
    Leading/trailing silence is dropped first: frames ``bounds`` (start, stop), by default
    :func:`speech_bounds` of the detached audio. The dynamic features matter: on the human *Two Cities*
    clauses against pico2wave they raise the DTW comparator's same-vs-other-clause AUC from 0.92 to 0.98.
    """
    start, stop = speech_bounds(audio) if bounds is None else bounds
    static = mfcc(audio, n_mfcc)[start:stop]
    velocity = deltas(static)
    return cmvn(torch.cat([static, velocity, deltas(velocity)], dim=1))


def speech_features(audio: np.ndarray, n_mfcc: int = N_MFCC) -> np.ndarray:
    """:func:`speech_features_torch` of a numpy waveform (read as float32), as a float64 numpy array, no gradient."""
    with torch.no_grad():
        tensor = torch.from_numpy(np.asarray(audio, dtype=np.float32))
        return speech_features_torch(tensor, n_mfcc=n_mfcc).numpy()
