"""AllOfDetector: every member must pass; the normalised score min_k score_k / threshold_k decides."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.channel import AwgnChannel
from synthcheck.detect import DETECTOR_CONFIGS, AllOfDetector, build_detector
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer

SENTENCE = "It was the season of light."


@pytest.fixture(scope="module")
def spoken() -> np.ndarray:
    clean = get_synthesizer("espeak-ng", "en-us").synthesize(SENTENCE)
    return AwgnChannel(snr_db=28.0).apply(clean, np.random.default_rng(0))


@pytest.fixture(scope="module")
def combined() -> AllOfDetector:
    detector = build_detector(get_recognizer("whisper-base"), "likelihood+voices-dtw")
    assert isinstance(detector, AllOfDetector)
    return detector


def test_members_are_the_named_configurations(combined: AllOfDetector) -> None:
    assert [m.name for m in combined.members] == ["likelihood-tiny.en", "voices-dtw"]
    assert [m.threshold for m in combined.members] == [DETECTOR_CONFIGS[m.name].threshold for m in combined.members]
    assert combined.threshold == 1.0 and combined.recognizer.name == "whisper-base"


@pytest.mark.parametrize("transcript", [SENTENCE, "It was the season of darkness.", "He travels the fastest who travels alone."])
def test_score_is_the_lowest_normalised_member_score(combined: AllOfDetector, spoken: np.ndarray, transcript: str) -> None:
    verdict = combined.check_transcript(spoken, transcript)
    members = verdict.details["members"]
    ratios = {name: m["score"] / m["threshold"] for name, m in members.items()}
    assert verdict.score == pytest.approx(min(ratios.values()))
    assert verdict.details["decisive_member"] == min(ratios, key=ratios.get)
    assert verdict.consistent == all(m["consistent"] for m in members.values())
    assert verdict.comparator == "likelihood-tiny.en+dtw-mfcc" and verdict.detector == "likelihood+voices-dtw"
    assert verdict.resynthesized is not None  # the DTW member's best take


def test_right_transcript_passes_other_words_fail(combined: AllOfDetector, spoken: np.ndarray) -> None:
    right = combined.check_transcript(spoken, SENTENCE)
    wrong = combined.check_transcript(spoken, "He travels the fastest who travels alone.")
    assert right.consistent and right.score >= 1.0
    assert not wrong.consistent and wrong.score < 0.5
    assert not wrong.details["members"]["likelihood-tiny.en"]["consistent"]


def test_a_stricter_threshold_applies_to_every_member(spoken: np.ndarray) -> None:
    lenient = build_detector(get_recognizer("whisper-base"), "likelihood+voices-dtw")
    strict = build_detector(get_recognizer("whisper-base"), "likelihood+voices-dtw", threshold=50.0)
    assert lenient.check_transcript(spoken, SENTENCE).consistent
    assert not strict.check_transcript(spoken, SENTENCE).consistent


def test_bad_member_lists_are_refused() -> None:
    base = get_recognizer("whisper-base")
    one = build_detector(base, "paper")
    with pytest.raises(BadInputError, match="at least two"):
        AllOfDetector([one])
    with pytest.raises(BadInputError, match="same recogniser"):
        AllOfDetector([one, build_detector(get_recognizer("pocketsphinx"), "dtw")])
    with pytest.raises(BadInputError, match="positive"):
        AllOfDetector([one, build_detector(base, "dtw")], threshold=float("nan"))
