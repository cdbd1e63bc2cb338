"""Property tests: arbitrary bytes and arrays never crash the audio loader or the correlation measures with
anything but :class:`~synthcheck.errors.BadInputError`, and what they do return is well-formed."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synthcheck.audio.correlation import max_normalized_xcorr
from synthcheck.audio.io import load_audio, validate_audio, wav_truncation
from synthcheck.audio.pearson import PEARSON_MEASURES, pearson_measure
from synthcheck.errors import BadInputError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".bin", "")


def _header(channels: int, rate: int, bits: int, declared: int, fmt_tag: int = 1) -> bytes:
    align = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    return (b"RIFF" + struct.pack("<I", (36 + declared) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", declared & 0xFFFFFFFF))


#: WAV-like files: a header with arbitrary fields (channels, rate, width, promised size) and any payload.
wav_files = st.builds(
    lambda channels, rate, bits, declared, tag, payload: _header(channels, rate, bits, declared, tag) + payload,
    st.integers(0, 9), st.sampled_from([0, 1, 7, 999, 8000, 16000, 44100, 48000, 384001, 2**31 - 1]),
    st.sampled_from([0, 8, 12, 16, 24, 32, 64]), st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 6, 7, 0xFFFE, 0]),
    st.binary(max_size=4000),
)
any_files = st.one_of(st.binary(max_size=3000), wav_files,
                      st.binary(max_size=3000).map(lambda b: b"ID3\x03\x00\x00\x00\x00\x00\x00" + b),
                      st.binary(max_size=3000).map(lambda b: b"fLaC" + b), st.binary(max_size=3000).map(lambda b: b"OggS" + b))


def _check_loaded(audio: np.ndarray) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0 and np.all(np.isfinite(audio))


@FAST
@given(content=any_files, suffix=st.sampled_from(SUFFIXES), allow_truncated=st.booleans())
def test_load_audio_returns_audio_or_raises_bad_input(content, suffix, allow_truncated):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"input{suffix}")
        path.write_bytes(content)
        try:
            audio = load_audio(path, allow_truncated=allow_truncated, max_seconds=60)
        except BadInputError as exc:
            assert "\n" not in str(exc).strip()
        else:
            _check_loaded(audio)
        truncation = wav_truncation(path)
        assert truncation is None or truncation[0] > truncation[1] >= 0


@FAST
@given(audio=arrays(st.sampled_from([np.float32, np.float64, np.int16]),
                    st.tuples(st.integers(0, 300)) | st.tuples(st.integers(0, 40), st.integers(0, 3))),
       allow_silent=st.booleans())
def test_validate_audio_accepts_or_raises_bad_input(audio, allow_silent):
    try:
        out = validate_audio(audio, allow_silent=allow_silent)
    except BadInputError:
        return
    _check_loaded(out)


signals = arrays(np.float64, st.integers(0, 400),
                 elements=st.floats(allow_nan=True, allow_infinity=True, width=32)) | arrays(
                     np.float32, st.tuples(st.integers(0, 5), st.integers(0, 5)))


@FAST
@given(reference=signals, observed=signals, mode=st.sampled_from(["template", "full"]),
       fraction=st.floats(-0.5, 1.5) | st.just(float("nan")), position=st.sampled_from(["center", "energy"]))
def test_template_xcorr_scores_in_unit_interval_or_raises_bad_input(reference, observed, mode, fraction, position):
    try:
        result = max_normalized_xcorr(reference, observed, mode=mode, template_fraction=fraction,
                                      template_position=position)
    except BadInputError:
        return
    assert 0.0 <= result.score <= 1.0 + 1e-9


@FAST
@given(reference=signals, observed=signals, name=st.sampled_from(list(PEARSON_MEASURES) + ["nope"]),
       seed=st.integers(0, 2**32 - 1), fraction=st.floats(-0.5, 1.5) | st.just(float("nan")))
def test_pearson_measures_in_range_or_raise_bad_input(reference, observed, name, seed, fraction):
    try:
        result = pearson_measure(name, reference, observed, seed=seed, fraction=fraction)
    except BadInputError:
        return
    assert -1.0 <= result.rho <= 1.0 and np.isfinite(result.rho)
