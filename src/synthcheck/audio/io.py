"""Audio at the edge: load, validate, resample, write.

Inside the library audio is float32 numpy in [-1, 1], mono, at :data:`SAMPLE_RATE` (16 kHz).
Conversion happens once, here.

Reading is defensive: a WAV whose header promises more samples than the file holds (a download cut short) is
refused unless the caller allows it (then a warning is logged), and what C decoders (libsndfile, mpg123) print
on file descriptor 2 while reading is captured, never shown: it goes into the one-line error when decoding fails.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from synthcheck.errors import BadInputError, InputTooLongError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: Longest input accepted by :func:`load_audio` unless the caller passes ``max_seconds``.
#: Override with the environment variable ``SYNTHCHECK_MAX_SECONDS``.
DEFAULT_MAX_SECONDS = 600.0
#: Sample rates :func:`load_audio` accepts: anything else is a damaged header (and would make resampling
#: allocate absurd filters).
MIN_INPUT_RATE, MAX_INPUT_RATE = 1_000, 384_000
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
    if audio.dtype.kind not in "biuf":
        raise BadInputError(f"{name}: expected real-valued samples, got dtype {audio.dtype}")
    if audio.ndim != 1:
        raise BadInputError(f"{name}: expected mono 1-D audio, got shape {audio.shape}; mix down with to_mono() first")
    if audio.size == 0:
        raise BadInputError(f"{name}: audio is empty (0 samples); give a recording with speech in it")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf and is refused below
        audio = np.ascontiguousarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise BadInputError(f"{name}: {bad} samples are NaN or infinite; repair or re-export the audio")
    if not allow_silent and float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadInputError(f"{name}: audio is silent (peak below {SILENCE_PEAK:g}); give a recording with speech in it")
    return audio


def load_audio(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    allow_silent: bool = False,
    allow_truncated: bool = False,
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
    allow_truncated
        Accept a WAV cut short (fewer samples than its header promises): use the samples present and log a
        warning naming both lengths.

    Raises
    ------
    BadInputError
        Missing, empty, undecodable or truncated file; too long; NaN/inf; empty or silent audio.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty (0 bytes)")
    limit = default_max_seconds() if max_seconds is None else max_seconds
    if not limit > 0:  # also NaN
        raise BadInputError(f"max_seconds must be a positive number of seconds, got {limit}")
    try:
        with _captured_fd2() as noise:  # the lines are there once the block has ended
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(_undecodable(path, exc, noise)) from None
    if not MIN_INPUT_RATE <= info.samplerate <= MAX_INPUT_RATE:
        raise BadInputError(f"{path}: sample rate {info.samplerate} Hz is outside {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz; "
                            "the header is damaged or this is not a recording: export it again")
    _check_complete(path, info.samplerate, allow_truncated)
    if info.frames == 0:
        raise BadInputError(f"{path}: audio is empty (0 samples)")
    duration = info.frames / info.samplerate
    if duration > limit:
        raise InputTooLongError(
            f"{path}: {duration:.0f} s is longer than the limit of {limit:.0f} s; "
            "cut it or raise the limit (--max-seconds or SYNTHCHECK_MAX_SECONDS)"
        )
    try:
        with _captured_fd2() as noise:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        detail = noise[-1] if noise else _short(exc)
        raise BadInputError(f"{path}: audio data is unreadable or truncated ({detail[:160]})") from None
    if data.shape[0] == 0:
        raise BadInputError(f"{path}: audio is empty (0 samples); the file may be truncated")
    audio = resample(to_mono(data), sr, SAMPLE_RATE)
    return validate_audio(audio, name=str(path), allow_silent=allow_silent)


def wav_truncation(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(samples the header promises, samples present)`` of a RIFF WAV whose data chunk is cut short, else None.

    Reads the RIFF chunk headers only. Non-WAV files, complete files and streaming headers (data size 0 or
    0xFFFFFFFF, "unknown length") give None. Samples are frames (one per channel group).
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(4) != b"RIFF" or len(f.read(4)) != 4 or f.read(4) != b"WAVE":
            return None
        align, pos = 1, 12
        for _ in range(64):  # a WAV has a handful of chunks; stop on garbage
            head = f.read(8)
            if len(head) < 8:
                return None
            chunk, length = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk == b"fmt ":
                fmt = f.read(min(length, 16))
                align = max(struct.unpack("<H", fmt[12:14])[0], 1) if len(fmt) >= 14 else 1
            elif chunk == b"data":
                present = size - (pos + 8)
                if length in (0, 0xFFFFFFFF) or length <= present:
                    return None
                frames = (length // align, max(present, 0) // align)
                return frames if frames[0] > frames[1] else None  # a partial last frame is no missing sample
            pos += 8 + length + (length & 1)
            f.seek(pos)
    return None


def _check_complete(path: Path, sample_rate: int, allow_truncated: bool) -> None:
    truncation = wav_truncation(path)
    if truncation is None:
        return
    promised, present = truncation
    lengths = (f"the header promises {promised} samples ({promised / sample_rate:.2f} s) but the file holds "
               f"{present} samples ({present / sample_rate:.2f} s)")
    if not allow_truncated:
        raise BadInputError(f"{path}: truncated WAV: {lengths}; download or export it again, "
                            "or pass --allow-truncated to use the samples present")
    log.warning("%s: truncated WAV: %s; using the samples present", path, lengths)


@contextmanager
def _captured_fd2() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (where C decoders print) to a temporary file; yield the lines it received.

    The lines are filled in when the block ends, also when it raises; they are logged at debug level.
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                text = sink.read(65536).decode("utf-8", "replace")
                lines.extend(_decoder_message(line) for line in text.splitlines() if line.strip())
                for line in lines:
                    log.debug("decoder: %s", line)
    finally:
        os.close(saved)


def _decoder_message(line: str) -> str:
    """``[src/libmpg123/parse.c:f():1083] warning: Cannot read ...`` -> ``Cannot read ...``."""
    line = line.strip()
    if line.startswith("[") and "]" in line:
        line = line.partition("]")[2].strip()
    return line.removeprefix("warning:").removeprefix("error:").strip()


def _undecodable(path: Path, exc: BaseException, noise: list[str]) -> str:
    """The one-line message for a file libsndfile cannot open as audio."""
    reason = _short(exc).removeprefix(f"Error opening {str(path)!r}: ").strip().rstrip(".")
    if "does not exist or is not a regular file" in reason:  # what libsndfile says whenever mpg123 gives up
        reason = noise[-1] if noise else "the decoder rejected the data"
    kind = f"{path.suffix[1:].upper()} by its name" if path.suffix else "no file extension"
    return f"could not decode {path} as audio ({kind}): {reason[:160]}; expected WAV/FLAC/OGG/MP3"


def quantize_16bit(audio: np.ndarray) -> np.ndarray:
    """Round to the 16-bit grid (values k/32768, clipped to [-1, 32767/32768]) as float32."""
    return (int16_from_float(audio).astype(np.float32) / 32768.0).astype(np.float32)


def int16_from_float(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16 samples (rounded, clipped)."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def check_wav_output(path: str | os.PathLike) -> Path:
    """Refuse an output path that cannot become a WAV file (call it before expensive work).

    Raises
    ------
    BadInputError
        The name does not end in ``.wav`` or the path is a directory.
    """
    path = Path(path)
    if path.suffix.lower() != ".wav":
        raise BadInputError(f"{path}: the output is 16-bit PCM WAV, so its name must end in .wav "
                            f"(got {path.suffix or 'no extension'!r}); e.g. {path.with_suffix('.wav').name}")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory; give a file name ending in .wav")
    return path


def save_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM WAV (exact: reading it back gives :func:`quantize_16bit` of the input).

    Raises
    ------
    BadInputError
        Not a ``.wav`` name (:func:`check_wav_output`), or the place is not writable.
    """
    path = check_wav_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), int16_from_float(audio), sample_rate, format="WAV", subtype="PCM_16")
    except (OSError, sf.LibsndfileError) as exc:
        raise BadInputError(f"{path}: cannot write the WAV file ({_short(exc)}); choose a writable path") from None
    return path


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
