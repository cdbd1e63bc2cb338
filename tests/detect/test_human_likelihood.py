"""The likelihood comparator: an independent Whisper (tiny.en) judges the decided transcript, no TTS."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.detect.likelihood import LikelihoodComparator, TranscriptOnly
from synthcheck.detect.voice_search import VoiceSearch
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer


@pytest.fixture(scope="module")
def judge() -> LikelihoodComparator:
    return LikelihoodComparator("tiny.en")


@pytest.fixture(scope="module")
def spoken() -> np.ndarray:
    return get_synthesizer("espeak-ng", "en-us").synthesize("It was the season of light.")


def test_right_transcript_is_likely_wrong_one_is_not(judge: LikelihoodComparator, spoken: np.ndarray) -> None:
    right = judge.score_transcript(spoken, "It was the season of light.")
    wrong = judge.score_transcript(spoken, "He travels the fastest who travels alone.")
    assert 0.0 <= wrong.score < 0.1 < 0.3 < right.score <= 1.0
    assert right.score == pytest.approx(np.exp(-right.details["token_loss"]))
    assert right.details["judge"] == "whisper-tiny.en"
    assert right.lag is None


def test_plugs_into_an_unchanged_detector_without_tts(judge: LikelihoodComparator, spoken: np.ndarray) -> None:
    detector = ConsistencyDetector(get_recognizer("whisper-tiny.en"), TranscriptOnly(), judge, threshold=0.2)
    right = detector.check_transcript(spoken, "It was the season of light.")
    wrong = detector.check_transcript(spoken, "It was the season of darkness.")
    assert right.consistent and not wrong.consistent
    assert right.synthesizer == "none:transcript" and right.comparator == "likelihood(tiny.en)"
    assert right.resynthesized is not None and right.resynthesized.size == 0


def test_reads_the_text_carried_by_voice_search(judge: LikelihoodComparator, spoken: np.ndarray) -> None:
    renderings = VoiceSearch(voices=("pico2wave:en-US",), speeds=(1.0,)).synthesize("It was the season of light.")
    assert judge.score(spoken, renderings).score == pytest.approx(
        judge.score_transcript(spoken, "It was the season of light.").score, rel=1e-6
    )


def test_needs_a_transcript(judge: LikelihoodComparator, spoken: np.ndarray) -> None:
    with pytest.raises(BadInputError, match="TranscriptOnly"):
        judge.score(spoken, spoken)
    with pytest.raises(BadInputError, match="empty transcript"):
        TranscriptOnly().synthesize("   ")
    empty = ConsistencyDetector(get_recognizer("whisper-tiny.en"), TranscriptOnly(), judge).check_transcript(spoken, "")
    assert not empty.consistent and empty.reason
