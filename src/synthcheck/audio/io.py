"""Audio at the edge: load, validate, resample, write.

Inside the library audio is float32 numpy in [-1, 1], mono, at :data:`SAMPLE_RATE` (16 kHz).
Conversion happens once, here.
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from synthcheck.errors import BadInputError

SAMPLE_RATE = 16_000
#: Longest input accepted by :func:`load_audio` unless the caller passes ``max_seconds``.
#: Override with the environment variable ``SYNTHCHECK_MAX_SECONDS``.
DEFAULT_MAX_SECONDS = 600.0
#: Below this peak amplitude (about -90 dBFS, under one 16-bit step) audio counts as silent.
SILENCE_PEAK = 3.0e-5


def default_max_seconds() -> float:
    """The configured maximum input length in seconds (``SYNTHCHECK_MAX_SECONDS`` or 600)."""
    return float(os.environ.get("SYNTHCHECK_MAX_SECONDS", DEFAULT_MAX_SECONDS))


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a 1-D signal from ``sr_in`` to ``sr_out`` Hz (float32 out)."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    out = resample_poly(np.asarray(audio, dtype=np.float64), sr_out // g, sr_in // g)
    return out.astype(np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of a (samples, channels) array; 1-D input is returned unchanged."""
    audio = np.asarray(audio)
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def validate_audio(audio: np.ndarray, *, name: str = "audio", allow_silent: bool = False) -> np.ndarray:
    """Check that ``audio`` is usable library audio and return it as contiguous float32.

    Raises
    ------
    BadInputError
        Not 1-D, empty, containing NaN/inf, or silent (unless ``allow_silent``).
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise BadInputError(f"{name}: expected mono 1-D audio, got shape {audio.shape}; mix down with to_mono() first")
    if audio.size == 0:
        raise BadInputError(f"{name}: audio is empty (0 samples); give a recording with speech in it")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise BadInputError(f"{name}: {bad} samples are NaN or infinite; repair or re-export the audio")
    if not allow_silent and float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadInputError(f"{name}: audio is silent (peak below {SILENCE_PEAK:g}); give a recording with speech in it")
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_audio(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    allow_silent: bool = False,
) -> np.ndarray:
    """Load WAV/FLAC/OGG/MP3 as 16 kHz mono float32 in [-1, 1].

    Any sample rate, channel count and sample format (16/24/32-bit, float) is converted.

    Parameters
    ----------
    path
        Audio file.
    max_seconds
        Refuse longer files (default :func:`default_max_seconds`); guards against hour-long inputs.
    allow_silent
        Accept all-zero audio (for tools that inspect rather than classify).

    Raises
    ------
    BadInputError
        Missing, empty, unreadable or truncated file; too long; NaN/inf; empty or silent audio.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty (0 bytes)")
    limit = default_max_seconds() if max_seconds is None else max_seconds
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(
            f"{path}: not a readable audio file ({_short(exc)}); expected WAV/FLAC/OGG/MP3"
        ) from None
    if info.frames == 0:
        raise BadInputError(f"{path}: audio is empty (0 samples)")
    duration = info.frames / info.samplerate
    if duration > limit:
        raise BadInputError(
            f"{path}: {duration:.0f} s is longer than the limit of {limit:.0f} s; "
            "cut it or raise the limit (--max-seconds or SYNTHCHECK_MAX_SECONDS)"
        )
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(f"{path}: audio data is unreadable or truncated ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise BadInputError(f"{path}: audio is empty (0 samples); the file may be truncated")
    audio = resample(to_mono(data), sr, SAMPLE_RATE)
    return validate_audio(audio, name=str(path), allow_silent=allow_silent)


def quantize_16bit(audio: np.ndarray) -> np.ndarray:
    """Round to the 16-bit grid (values k/32768, clipped to [-1, 32767/32768]) as float32."""
    return (int16_from_float(audio).astype(np.float32) / 32768.0).astype(np.float32)


def int16_from_float(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16 samples (rounded, clipped)."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def save_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM WAV (exact: reading it back gives :func:`quantize_16bit` of the input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), int16_from_float(audio), sample_rate, subtype="PCM_16")
    return path


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
