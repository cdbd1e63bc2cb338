"""The PocketSphinx alignment comparator (detect/forced_alignment.py): forced alignment of the transcript vs a
free phone loop, on real clauses.

Margins below are about half of those measured (human LibriVox clauses; pico2wave clauses through AWGN at
28 dB SNR, rng seed 0): the correct text beats a sibling clause and a one-word near-homophone edit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthcheck.asr.pocketsphinx import PocketsphinxRecognizer
from synthcheck.attacks.adaptive import small_edit_target
from synthcheck.audio.channel import AwgnChannel
from synthcheck.data.datasets import Utterance, load_dataset
from synthcheck.detect.forced_alignment import LLR_SCALE, AlignmentComparator
from synthcheck.detect.comparators import TranscriptComparator
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.detect.registry import COMPARATORS, get_comparator
from synthcheck.errors import BadInputError


@pytest.fixture(scope="module")
def alignment() -> AlignmentComparator:
    comparator = get_comparator("align-pocketsphinx")
    assert isinstance(comparator, AlignmentComparator)
    return comparator


@pytest.fixture(scope="module")
def clauses() -> dict[tuple[str, str], Utterance]:
    """(source, key) → clause; the pico2wave ones through the 28 dB AWGN channel."""
    found = {("human", u.key): u for u in load_dataset("two-cities-human")}
    for u in load_dataset("two-cities-tts"):
        noisy = AwgnChannel(snr_db=28).apply(u.audio, np.random.default_rng(0))
        found["tts", u.key] = Utterance(u.key, u.text, noisy)
    return found


# (source, clause, sibling clause, original word, edited word, margin); measured score margins
# correct−edit / correct−sibling: human 02 0.33/0.31, human 09 0.30/0.35, tts 10 0.11/0.13, tts 11 0.11/0.17.
CASES = [
    ("human", "two-cities-02", "it was the age of foolishness", "wisdom", "freedom", 0.15),
    ("human", "two-cities-09", "it was the age of wisdom", "despair", "repair", 0.15),
    ("tts", "two-cities-10", "we had nothing before us", "everything", "anything", 0.05),
    ("tts", "two-cities-11", "we had everything before us", "nothing", "something", 0.05),
]


@pytest.mark.parametrize(("source", "key", "sibling", "original", "edited", "margin"), CASES)
def test_correct_text_beats_a_sibling_clause_and_a_small_edit(
    alignment: AlignmentComparator,
    clauses: dict[tuple[str, str], Utterance],
    source: str,
    key: str,
    sibling: str,
    original: str,
    edited: str,
    margin: float,
) -> None:
    clause = clauses[source, key]
    edit = small_edit_target(clause.text)
    assert edited in edit.split()
    correct = alignment.score_transcript(clause.audio, clause.text)
    other = alignment.score_transcript(clause.audio, sibling)
    small = alignment.score_transcript(clause.audio, edit)
    assert correct.score - other.score > margin
    assert correct.score - small.score > margin
    # The per-word evidence points at the edit: measured 1.2 to 5.8 nats/frame below the original word.
    word_llr = {w["word"]: w["llr_per_frame"] for w in correct.details["words"]}
    edit_llr = {w["word"]: w["llr_per_frame"] for w in small.details["words"]}
    assert edit_llr[edited] < word_llr[original] - 0.5


def test_score_is_the_logistic_of_the_per_frame_ratio(
    alignment: AlignmentComparator, clauses: dict[tuple[str, str], Utterance]
) -> None:
    clause = clauses["human", "two-cities-08"]
    result = alignment.score_transcript(clause.audio, clause.text)
    llr = result.details["llr_per_frame"]
    assert alignment.score_range == (0.0, 1.0) and 0.0 < result.score < 1.0 and result.lag is None
    assert result.score == pytest.approx(1.0 / (1.0 + math.exp(-llr / LLR_SCALE)))
    assert -3.0 < llr < 2.0  # correct human clauses measured -0.85 … +0.57 nats per frame
    assert result.details["frames"] == pytest.approx(len(clause.audio) / 160, abs=2)
    words = [w["word"] for w in result.details["words"]]
    assert words == clause.text.lower().split()
    assert all(0.0 <= w["start"] < w["end"] <= clause.seconds + 0.02 for w in result.details["words"])
    assert result.details["oov"] == [] and result.details["model"].startswith("pocketsphinx-5")


def test_same_input_twice_gives_the_same_score(
    alignment: AlignmentComparator, clauses: dict[tuple[str, str], Utterance]
) -> None:
    clause = clauses["tts", "two-cities-06"]
    first = alignment.score_transcript(clause.audio, clause.text)
    again = alignment.score_transcript(clause.audio, clause.text)
    assert first.score == again.score and first.details == again.details


def test_out_of_vocabulary_words_are_aligned_as_spoken_noise(
    alignment: AlignmentComparator, clauses: dict[tuple[str, str], Utterance]
) -> None:
    clause = clauses["human", "two-cities-07"]  # "it was the season of Darkness"
    correct = alignment.score_transcript(clause.audio, clause.text)
    oov = alignment.score_transcript(clause.audio, "It was the season of sparkness!")
    assert oov.details["oov"] == ["sparkness"] and "reason" not in oov.details
    assert [w["word"] for w in oov.details["words"]] == ["it", "was", "the", "season", "of"]
    assert 0.0 < oov.score < correct.score - 0.2  # measured 0.14 vs 0.64


def test_transcripts_that_cannot_be_judged_score_zero_with_a_reason(
    alignment: AlignmentComparator, clauses: dict[tuple[str, str], Utterance]
) -> None:
    clause = clauses["tts", "two-cities-16"]  # "for good or for evil", 1.5 s
    for garbage in ("zxqv blorptz", "?! ..."):
        result = alignment.score_transcript(clause.audio, garbage)
        assert result.score == 0.0 and "dictionary" in result.details["reason"]
    too_long = alignment.score_transcript(clause.audio, " ".join([clause.text] * 12))
    assert too_long.score == 0.0 and "no alignment path" in too_long.details["reason"]
    too_short = alignment.score_transcript(clause.audio[:400], clause.text)
    assert too_short.score == 0.0 and "too short" in too_short.details["reason"]
    with pytest.raises(BadInputError, match="empty transcript"):
        alignment.score_transcript(clause.audio, "   ")
    with pytest.raises(BadInputError, match="score_transcript"):
        alignment.score(clause.audio, clause.audio)


def test_registered_and_usable_by_the_detector(
    alignment: AlignmentComparator, clauses: dict[tuple[str, str], Utterance]
) -> None:
    assert "align-pocketsphinx" in COMPARATORS and isinstance(alignment, TranscriptComparator)
    assert alignment.name == "align-pocketsphinx" and not alignment.needs_rendering
    clause = clauses["tts", "two-cities-12"]  # pico2wave: correct texts 0.17–0.33, other clauses at most 0.11
    detector = ConsistencyDetector(PocketsphinxRecognizer(), None, alignment, threshold=0.14)
    right = detector.check_transcript(clause.audio, clause.text)
    wrong = detector.check_transcript(clause.audio, "we were all going direct the other way")
    assert right.consistent and not wrong.consistent
    assert right.comparator == "align-pocketsphinx" and right.synthesizer == "none"
    direct = alignment.score_transcript(clause.audio, clause.text)
    assert right.details["llr_per_frame"] == direct.details["llr_per_frame"]
