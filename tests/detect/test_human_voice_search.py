"""Voice/speed search (decompression over nuisance parameters) with real TTS engines."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.detect.comparators import CorrelationComparator
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import BestOfRenderings, Renderings, Take, VoiceSearch, change_speed
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer

TEXT = "it was the spring of hope"


@pytest.fixture(scope="module")
def search() -> VoiceSearch:
    return VoiceSearch(voices=("pico2wave:en-US", "flite:slt", "espeak-ng:en-us"), speeds=(0.9, 1.0, 1.1))


def test_renders_every_voice_at_every_speed(search: VoiceSearch) -> None:
    renderings = search.synthesize(TEXT)
    assert isinstance(renderings, Renderings)
    assert renderings.text == TEXT
    assert [(t.voice, t.speed) for t in renderings.takes][:3] == [
        ("pico2wave:en-US", 0.9), ("pico2wave:en-US", 1.0), ("pico2wave:en-US", 1.1)
    ]
    assert len(renderings.takes) == 9
    assert np.array_equal(np.asarray(renderings), renderings.takes[0].audio)
    slow, normal, fast = (t.audio for t in renderings.takes[:3])
    assert len(slow) / len(normal) == pytest.approx(1 / 0.9, rel=0.01)
    assert len(fast) / len(normal) == pytest.approx(1 / 1.1, rel=0.01)


def test_change_speed_is_identity_at_one() -> None:
    audio = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    assert change_speed(audio, 1.0) is not None and np.array_equal(change_speed(audio, 1.0), audio)


def test_best_of_renderings_picks_the_matching_voice(search: VoiceSearch) -> None:
    observed = get_synthesizer("flite", "slt").synthesize(TEXT)
    comparison = BestOfRenderings(CorrelationComparator()).score(observed, search.synthesize(TEXT))
    assert comparison.details["voice"] == "flite:slt"
    assert comparison.details["speed"] == 1.0
    assert comparison.score == pytest.approx(max(comparison.details["take_scores"]), abs=1e-4)
    assert comparison.score > 0.9


def test_best_of_renderings_on_plain_audio_is_the_inner_comparator() -> None:
    audio = get_synthesizer("pico2wave", "en-US").synthesize(TEXT)
    inner = DtwComparator()
    assert BestOfRenderings(inner).score(audio, audio).score == inner.score(audio, audio).score
    bundle = Renderings.from_takes(TEXT, [Take("x:y", 1.0, audio)])
    assert BestOfRenderings(inner).name == "best-of(dtw-mfcc)"
    assert BestOfRenderings(inner).score(audio, bundle).details["voice"] == "x:y"


def test_plugs_into_an_unchanged_consistency_detector(search: VoiceSearch) -> None:
    observed = get_synthesizer("espeak-ng", "en-us").synthesize(TEXT)
    detector = ConsistencyDetector(get_recognizer("pocketsphinx"), search, BestOfRenderings(DtwComparator()), 0.5)
    right = detector.check_transcript(observed, TEXT)
    wrong = detector.check_transcript(observed, "we were all going direct to heaven")
    assert right.synthesizer == "voice-search:3x3"
    assert right.details["voice"] == "espeak-ng:en-us"
    assert right.score > wrong.score


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(BadInputError, match="speeds"):
        VoiceSearch(voices=("pico2wave:en-US",), speeds=(3.0,))
    with pytest.raises(BadInputError):
        VoiceSearch(voices=(), speeds=(1.0,))
    with pytest.raises(BadInputError):
        VoiceSearch(voices=("nosuchengine:x",))
