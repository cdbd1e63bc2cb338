"""Voice/speed search (decompression over nuisance parameters) with real TTS engines."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.detect.comparators import CorrelationComparator
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import VoiceSearch, change_speed
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer

TEXT = "it was the spring of hope"


@pytest.fixture(scope="module")
def search() -> VoiceSearch:
    return VoiceSearch(voices=("pico2wave:en-US", "flite:slt", "espeak-ng:en-us"), speeds=(0.9, 1.0, 1.1))


def test_renders_every_voice_at_every_speed(search: VoiceSearch) -> None:
    takes = search.render_takes(TEXT)
    assert [(t.voice, t.speed) for t in takes][:3] == [
        ("pico2wave:en-US", 0.9), ("pico2wave:en-US", 1.0), ("pico2wave:en-US", 1.1)
    ]
    assert len(takes) == 9 and {t.voice for t in takes} == {"pico2wave:en-US", "flite:slt", "espeak-ng:en-us"}
    slow, normal, fast = (t.audio for t in takes[:3])
    assert len(slow) / len(normal) == pytest.approx(1 / 0.9, rel=0.01)
    assert len(fast) / len(normal) == pytest.approx(1 / 1.1, rel=0.01)
    assert np.array_equal(search.synthesize(TEXT), takes[0].audio)
    assert search.id == "voice-search:3x3"


def test_change_speed_is_identity_at_one() -> None:
    audio = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    assert change_speed(audio, 1.0) is not None and np.array_equal(change_speed(audio, 1.0), audio)


def test_detector_keeps_the_take_nearest_to_the_input(search: VoiceSearch) -> None:
    observed = get_synthesizer("flite", "slt").synthesize(TEXT)
    verdict = ConsistencyDetector(get_recognizer("pocketsphinx"), search, CorrelationComparator()).check_transcript(
        observed, TEXT
    )
    assert verdict.details["voice"] == "flite:slt" and verdict.details["speed"] == 1.0
    assert len(verdict.details["take_scores"]) == 9
    assert verdict.score == max(verdict.details["take_scores"]) and verdict.score > 0.9
    assert verdict.synthesizer == "voice-search:3x3"
    assert np.array_equal(verdict.resynthesized, observed)  # the winning take is the input's own voice


def test_dtw_over_voices_prefers_the_right_transcript(search: VoiceSearch) -> None:
    observed = get_synthesizer("espeak-ng", "en-us").synthesize(TEXT)
    detector = ConsistencyDetector(get_recognizer("pocketsphinx"), search, DtwComparator(), 0.5)
    right = detector.check_transcript(observed, TEXT)
    wrong = detector.check_transcript(observed, "we were all going direct to heaven")
    assert right.details["voice"] == "espeak-ng:en-us"
    assert right.score > wrong.score


def test_text_no_voice_can_render_is_refused() -> None:
    search = VoiceSearch(voices=("pico2wave:en-US", "espeak-ng:en-us"), speeds=(1.0,))
    with pytest.raises(BadInputError, match="nothing speakable"):
        search.render_takes("♪♪")
    with pytest.raises(BadInputError, match="nothing speakable"):
        search.synthesize("♪♪")


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(BadInputError, match="speeds"):
        VoiceSearch(voices=("pico2wave:en-US",), speeds=(3.0,))
    with pytest.raises(BadInputError):
        VoiceSearch(voices=(), speeds=(1.0,))
    with pytest.raises(BadInputError):
        VoiceSearch(voices=("nosuchengine:x",))
