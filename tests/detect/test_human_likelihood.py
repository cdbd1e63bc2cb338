"""The likelihood comparator: an independent Whisper (tiny.en) judges the decided transcript, no TTS."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.detect.comparators import TranscriptComparator
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.detect.likelihood import LikelihoodComparator
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer


@pytest.fixture(scope="module")
def likelihood() -> LikelihoodComparator:
    return LikelihoodComparator("tiny.en")


@pytest.fixture(scope="module")
def spoken() -> np.ndarray:
    return get_synthesizer("espeak-ng", "en-us").synthesize("It was the season of light.")


def test_right_transcript_is_likely_wrong_one_is_not(likelihood: LikelihoodComparator, spoken: np.ndarray) -> None:
    right = likelihood.score_transcript(spoken, "It was the season of light.")
    wrong = likelihood.score_transcript(spoken, "He travels the fastest who travels alone.")
    assert 0.0 <= wrong.score < 0.1 < 0.3 < right.score <= 1.0
    assert right.score == pytest.approx(np.exp(-right.details["token_loss"]))
    assert right.details["model"] == "whisper-tiny.en"
    assert right.lag is None


def test_detector_judges_the_transcript_without_tts(likelihood: LikelihoodComparator, spoken: np.ndarray) -> None:
    assert isinstance(likelihood, TranscriptComparator) and not likelihood.needs_rendering
    detector = ConsistencyDetector(get_recognizer("whisper-tiny.en"), None, likelihood, threshold=0.2)
    right = detector.check_transcript(spoken, "It was the season of light.")
    wrong = detector.check_transcript(spoken, "It was the season of darkness.")
    assert right.consistent and not wrong.consistent
    assert right.synthesizer == "none" and right.comparator == "likelihood-tiny.en"
    assert right.resynthesized is None and right.timings["tts"] == 0.0 and right.timings["compare"] > 0.0
    direct = likelihood.score_transcript(spoken, "It was the season of light.")
    assert right.score == pytest.approx(direct.score, rel=1e-6)


def test_a_synthesizer_given_anyway_is_not_used(likelihood: LikelihoodComparator, spoken: np.ndarray) -> None:
    detector = ConsistencyDetector(get_recognizer("whisper-tiny.en"), get_synthesizer("pico2wave"), likelihood)
    verdict = detector.check_transcript(spoken, "It was the season of light.")
    assert verdict.synthesizer == "none" and verdict.resynthesized is None and "voice" not in verdict.details


def test_needs_a_transcript_not_audio(likelihood: LikelihoodComparator, spoken: np.ndarray) -> None:
    with pytest.raises(BadInputError, match="score_transcript"):
        likelihood.score(spoken, spoken)
    with pytest.raises(BadInputError, match="empty transcript"):
        likelihood.score_transcript(spoken, "   ")
    with pytest.raises(BadInputError, match="unknown Whisper size 'large'.*choose tiny.en or base"):
        LikelihoodComparator("large")
    empty = ConsistencyDetector(get_recognizer("whisper-tiny.en"), None, likelihood).check_transcript(spoken, "")
    assert not empty.consistent and empty.score == 0.0 and "heard no words" in empty.reason
