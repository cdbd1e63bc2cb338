"""The real TTS engines (pico2wave, espeak-ng, flite): audio format, caching, errors, registry."""

import numpy as np
import pytest

from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.cache import cache_dir
from synthcheck.errors import BadInputError, MissingComponentError
from synthcheck.tts import EspeakNg, Flite, Pico2Wave, get_synthesizer, list_voices, synthesizer_from_id
from synthcheck.tts.engine import NO_AUDIO_PEAK

SENTENCE = "It was the best of times."
VOICES = [("pico2wave", "en-US"), ("pico2wave", "en-GB"), ("espeak-ng", "en-us"), ("espeak-ng", "en-us+f3"),
          ("flite", "slt"), ("flite", "kal16")]


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("engine", "voice"), VOICES)
def test_engine_renders_16khz_float32_speech(engine, voice, private_cache):
    audio = get_synthesizer(engine, voice).synthesize(SENTENCE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    seconds = audio.size / SAMPLE_RATE
    assert 0.8 < seconds < 4.0, seconds  # six words at a normal speaking rate
    assert float(np.max(np.abs(audio))) > 0.05
    assert float(np.max(np.abs(audio))) <= 1.0
    # Speech, not a tone: the energy varies strongly between 50 ms frames.
    frames = audio[: audio.size // 800 * 800].reshape(-1, 800)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    assert rms.max() > 10 * np.percentile(rms, 10)


def test_espeak_output_is_resampled_from_22050_hz(private_cache):
    audio = EspeakNg("en-us").synthesize(SENTENCE)
    # No energy above 8 kHz is possible at 16 kHz; check the spectrum has content below 4 kHz.
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    assert spectrum[freqs < 4000].sum() > 5 * spectrum[freqs > 6000].sum()


def test_cache_hit_returns_the_stored_array(private_cache):
    synth = Pico2Wave("en-US")
    first = synth.synthesize(SENTENCE)
    second = synth.synthesize(SENTENCE)
    np.testing.assert_array_equal(first, second)
    entries = list(cache_dir("tts").glob("*.npy"))
    assert len(entries) == 1
    # Prove the second call reads the file: overwrite the entry and read it back through synthesize.
    marker = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    np.save(entries[0], marker)
    np.testing.assert_array_equal(synth.synthesize(SENTENCE), marker)


def test_cache_key_separates_voices_and_engines(private_cache):
    a = Pico2Wave("en-US").synthesize(SENTENCE)
    b = Pico2Wave("en-GB").synthesize(SENTENCE)
    assert a.size != b.size or not np.array_equal(a, b)
    assert len(list(cache_dir("tts").glob("*.npy"))) == 2


def test_corrupt_cache_entry_is_rendered_again(private_cache):
    synth = Flite("slt")
    clean = synth.synthesize(SENTENCE)
    (entry,) = cache_dir("tts").glob("*.npy")
    entry.write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(synth.synthesize(SENTENCE), clean)


@pytest.mark.parametrize(("cls", "package"), [(Pico2Wave, "libttspico-utils"), (EspeakNg, "espeak-ng"), (Flite, "flite")])
def test_missing_engine_names_its_debian_package(cls, package, monkeypatch, private_cache):
    monkeypatch.setattr(cls, "executable", "synthcheck-no-such-engine")
    with pytest.raises(MissingComponentError) as info:
        cls(cls.default_voice).synthesize(SENTENCE)
    message = str(info.value)
    assert package in message and "apt-get install" in message and "\n" not in message


@pytest.mark.parametrize("text", ["", "  ", "😀😀", "\x00", "..."])
@pytest.mark.parametrize("engine", ["pico2wave", "espeak-ng", "flite"])
def test_empty_or_unspeakable_text_is_refused(engine, text):
    with pytest.raises(BadInputError):
        get_synthesizer(engine).synthesize(text)


def test_engine_silence_is_caught(private_cache):
    # pico2wave's English voices write an empty WAV for Chinese text.
    with pytest.raises(BadInputError, match="engine produced no audio"):
        Pico2Wave("en-US").synthesize("你好世界")
    assert NO_AUDIO_PEAK > 0


def test_symbols_are_normalised_away_not_spoken(private_cache):
    synth = Pico2Wave("en-US")
    np.testing.assert_array_equal(synth.synthesize("hello 😀 world"), synth.synthesize("hello world"))


@pytest.mark.parametrize(("engine", "voice", "hint"), [
    ("pico2wave", "de-DE", "en-US"), ("espeak-ng", "xx-nowhere", "--voices"),
    ("espeak-ng", "en-us+nosuchvariant", "variant"), ("flite", "nosuch", "slt"),
])
def test_unknown_voice_is_refused_up_front(engine, voice, hint):
    with pytest.raises(BadInputError, match="no (voice|variant)") as info:
        get_synthesizer(engine, voice)
    assert hint in str(info.value)


def test_unknown_engine_is_refused():
    with pytest.raises(BadInputError, match="choose one of: pico2wave, espeak-ng, flite"):
        get_synthesizer("festival")


def test_synthesizer_from_id_round_trips():
    synth = synthesizer_from_id("pico2wave:en-GB")
    assert isinstance(synth, Pico2Wave) and synth.voice == "en-GB" and synth.id == "pico2wave:en-GB"
    assert synthesizer_from_id("flite").id == "flite:slt"
    assert synthesizer_from_id("espeak-ng:en-gb-x-rp").id == "espeak-ng:en-gb-x-rp"


def test_list_voices_lists_the_installed_voices():
    voices = list_voices()
    for expected in ("pico2wave:en-US", "pico2wave:en-GB", "espeak-ng:en-us", "espeak-ng:en-us+f3", "flite:slt",
                     "flite:kal16", "flite:awb", "flite:rms"):
        assert expected in voices
    for voice_id in voices:
        assert synthesizer_from_id(voice_id).id == voice_id


def test_cache_key_includes_the_engine_version():
    synth = Flite("slt")
    version = synth.engine_version()
    assert "flite" in version.lower() and len(version.splitlines()[0]) == 64  # --version text + sha256
