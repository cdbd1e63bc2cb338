"""load_audio / validate_audio / save_wav on real files: formats converted, bad input refused clearly."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, load_audio, quantize_16bit, save_wav, validate_audio
from synthcheck.errors import BadInputError


def tone(sample_rate: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * sample_rate / audio.size)


def wav_header(sample_rate: int, data_bytes: int, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
        + b"data" + struct.pack("<I", data_bytes)
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        load_audio(tmp_path / "absent.wav")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="is a directory"):
        load_audio(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(BadInputError, match="file is empty"):
        load_audio(path)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("It was the best of times, it was the worst of times.\n" * 20)
    with pytest.raises(BadInputError, match="could not decode .* as audio"):
        load_audio(path)


@pytest.mark.parametrize("keep_bytes", [8, 30])
def test_truncated_wav_header(tmp_path: Path, keep_bytes: int) -> None:
    full = tmp_path / "full.wav"
    save_wav(full, tone(SAMPLE_RATE))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:keep_bytes])
    with pytest.raises(BadInputError, match="could not decode .* as audio") as info:
        load_audio(cut)
    assert "\n" not in str(info.value)


def test_zero_length_audio(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(wav_header(SAMPLE_RATE, 0))
    with pytest.raises(BadInputError, match="empty"):
        load_audio(path)


def test_all_zero_audio_refused_unless_allowed(tmp_path: Path) -> None:
    path = save_wav(tmp_path / "silence.wav", np.zeros(8000, np.float32))
    with pytest.raises(BadInputError, match="silent"):
        load_audio(path)
    audio = load_audio(path, allow_silent=True)
    assert audio.shape == (8000,) and not np.any(audio)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    audio = tone(SAMPLE_RATE)
    audio[100] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(BadInputError, match="NaN or infinite"):
        load_audio(path)


@pytest.mark.parametrize("sample_rate", [8_000, 44_100, 48_000])
def test_other_sample_rates_are_resampled(tmp_path: Path, sample_rate: int) -> None:
    path = tmp_path / f"tone{sample_rate}.wav"
    sf.write(path, tone(sample_rate, seconds=1.0, freq=1000.0), sample_rate, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert audio.shape == (SAMPLE_RATE,)
    assert dominant_frequency(audio) == pytest.approx(1000.0, abs=2.0)
    assert np.max(np.abs(audio[1000:-1000])) == pytest.approx(0.5, abs=0.01)


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    left, right = tone(SAMPLE_RATE, amp=0.6), np.zeros(SAMPLE_RATE // 2, np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SAMPLE_RATE, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.ndim == 1
    np.testing.assert_allclose(audio, quantize_16bit(left) / 2, atol=1e-4)


@pytest.mark.parametrize(("subtype", "atol"), [("PCM_24", 1e-6), ("FLOAT", 0.0), ("PCM_32", 1e-8)])
def test_24_bit_and_float_wav(tmp_path: Path, subtype: str, atol: float) -> None:
    original = tone(SAMPLE_RATE, amp=0.3) + np.float32(1e-5)  # detail finer than a 16-bit step
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, original, SAMPLE_RATE, subtype=subtype)
    np.testing.assert_allclose(load_audio(path), original, atol=atol, rtol=0)


def test_two_hour_file_refused_before_reading_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real 2-hour 16 kHz PCM file: a valid header and a sparse data region (no disk blocks written).
    data_bytes = 2 * 3600 * SAMPLE_RATE * 2
    path = tmp_path / "two_hours.wav"
    with open(path, "wb") as f:
        f.write(wav_header(SAMPLE_RATE, data_bytes))
        f.truncate(44 + data_bytes)
    assert sf.info(str(path)).duration == pytest.approx(7200.0)
    sample_reads: list[str] = []
    real_read = sf.read
    monkeypatch.setattr(sf, "read", lambda *a, **k: sample_reads.append("read") or real_read(*a, **k))
    with pytest.raises(BadInputError, match="7200 s is longer than the limit of 600 s"):
        load_audio(path)
    with pytest.raises(BadInputError, match="limit of 3600 s"):
        load_audio(path, max_seconds=3600)
    assert sample_reads == []


def test_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_wav(tmp_path / "tone.wav", tone(SAMPLE_RATE, seconds=2.0))
    monkeypatch.setenv("SYNTHCHECK_MAX_SECONDS", "1")
    with pytest.raises(BadInputError, match="limit of 1 s"):
        load_audio(path)
    assert load_audio(path, max_seconds=3).shape == (2 * SAMPLE_RATE,)


def test_save_wav_round_trip_is_exact_16_bit(tmp_path: Path) -> None:
    audio = np.random.default_rng(0).uniform(-1.0, 1.0, 4000).astype(np.float32)
    path = save_wav(tmp_path / "sub" / "noise.wav", audio)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    np.testing.assert_array_equal(load_audio(path), quantize_16bit(audio))


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros((100, 2), np.float32), "mono 1-D"),
        (np.array([], np.float32), "empty"),
        (np.array([0.1, np.nan], np.float32), "NaN"),
        (np.full(100, 1e-6, np.float32), "silent"),
    ],
)
def test_validate_audio_errors(audio: np.ndarray, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        validate_audio(audio)


def test_validate_audio_returns_contiguous_float32() -> None:
    audio = np.linspace(-0.5, 0.5, 200)[::2]
    out = validate_audio(audio)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out, audio, atol=1e-7)
