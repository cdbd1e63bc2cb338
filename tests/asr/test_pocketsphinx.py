"""PocketSphinx with its bundled en-us model on real TTS speech."""

import numpy as np

from synthcheck.audio.channel import AwgnChannel
import pytest

from synthcheck.asr import DifferentiableRecognizer, get_recognizer, require_differentiable
from synthcheck.asr.pocketsphinx import PocketsphinxRecognizer
from synthcheck.audio.metrics import word_error_rate
from synthcheck.errors import BadInputError
from synthcheck.tts import Pico2Wave

SENTENCE = "It was the best of times, it was the worst of times."


@pytest.fixture(scope="module")
def recognizer():
    return get_recognizer("pocketsphinx")


def test_registry_returns_a_non_differentiable_pocketsphinx(recognizer):
    assert isinstance(recognizer, PocketsphinxRecognizer)
    assert recognizer.name == "pocketsphinx" and not isinstance(recognizer, DifferentiableRecognizer)
    expected = "the theory needs gradients .* 'pocketsphinx' has none; use whisper-tiny.en or whisper-base, or not"
    with pytest.raises(BadInputError, match=expected):
        require_differentiable(recognizer, "the theory", ", or not")


def test_transcribes_a_pico2wave_sentence(recognizer):
    text = recognizer.transcribe(Pico2Wave("en-US").synthesize(SENTENCE))
    wer = word_error_rate(SENTENCE, text)
    print(f"pocketsphinx heard {text!r}; WER {wer:.3f}")
    assert text == text.lower() and text.strip() == text
    assert wer < 0.6


def test_batch_keeps_order_and_is_deterministic(recognizer):
    short = Pico2Wave("en-US").synthesize("Good morning.")
    long = Pico2Wave("en-US").synthesize(SENTENCE)
    first = recognizer.transcribe_batch([short, long])
    assert first == recognizer.transcribe_batch([short, long])
    assert len(first) == 2 and "times" in first[1] and "times" not in first[0]


def test_answer_does_not_depend_on_what_was_decoded_before(recognizer):
    noisy = AwgnChannel(snr_db=28.0).apply(Pico2Wave("en-US").synthesize(SENTENCE), np.random.default_rng(0))
    other = Pico2Wave("en-GB").synthesize("Good morning, everybody.")
    alone = recognizer.transcribe(noisy)
    assert recognizer.transcribe_batch([other, noisy, noisy])[1:] == [alone, alone]


def test_silence_gives_a_string_not_an_error(recognizer):
    assert isinstance(recognizer.transcribe(np.zeros(8000, dtype=np.float32)), str)


def test_nan_audio_is_refused(recognizer):
    audio = np.full(8000, np.nan, dtype=np.float32)
    with pytest.raises(BadInputError, match="NaN"):
        recognizer.transcribe(audio)
