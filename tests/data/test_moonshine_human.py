"""moonshine-human: the human recordings of the moonshine-voice wheel cut into checked utterances, and speaker labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.metrics import word_error_rate
from synthcheck.data.datasets import ALSA_SPEAKER, RECORDED_DATASETS, TWO_CITIES_SPEAKER, Utterance, load_dataset
from synthcheck.data.moonshine import (
    CHECK_MODEL,
    EXCLUDED,
    MAX_CHECK_WER,
    SPEAKERS,
    group_sentences,
    moonshine_checks,
    moonshine_recording,
)


@pytest.fixture(scope="module")
def moonshine() -> list[Utterance]:
    return load_dataset("moonshine-human")


def test_the_set_loads_checked_utterances(moonshine: list[Utterance]) -> None:
    assert "moonshine-human" in RECORDED_DATASETS
    assert len(moonshine) >= 4
    assert len({u.key for u in moonshine}) == len(moonshine)
    for u in moonshine:
        assert u.audio.dtype == np.float32 and u.audio.ndim == 1, u.key
        assert 1.0 <= u.seconds <= 10.0, (u.key, u.seconds)
        assert len(u.text.split()) >= 3 and u.speaker in SPEAKERS.values(), u
        assert np.max(np.abs(u.audio)) > 0.05, u.key
    assert {u.speaker for u in moonshine} == {"beckett", "clone-test"}
    beckett = " ".join(u.text for u in moonshine if u.speaker == "beckett").lower()
    assert word_error_rate("ever tried ever failed no matter try again fail again fail better", beckett) == 0.0


def test_the_agreement_rule_holds_for_what_was_kept(moonshine: list[Utterance]) -> None:
    checks = moonshine_checks()
    kept = [c for c in checks if c.kept]
    assert [c.key for c in kept] == [u.key for u in moonshine]
    for c in checks:
        assert c.wer == pytest.approx(word_error_rate(c.text, c.check_text), abs=1e-4)
        assert c.kept == (c.wer <= MAX_CHECK_WER and 1.0 <= c.seconds <= 10.0), c
    # Re-check with the real second recogniser (not its cached transcripts).
    heard = get_recognizer(f"whisper-{CHECK_MODEL}").transcribe_batch([u.audio for u in moonshine])
    wers = [word_error_rate(u.text, h) for u, h in zip(moonshine, heard)]
    assert max(wers) <= MAX_CHECK_WER, list(zip(heard, wers))


def test_the_synthetic_recording_is_left_out(moonshine: list[Utterance]) -> None:
    assert "endgame_nagg_nell" in EXCLUDED and "endgame_nagg_nell" not in SPEAKERS
    assert not any("endgame" in u.key or "endgame" in u.speaker for u in moonshine)
    # The evidence in the audio: the TTS dialogue's pauses are runs of exact digital zeros, the kept ones have none.
    def longest_zero_run(audio: np.ndarray) -> float:
        padded = np.r_[0, (audio == 0).astype(np.int8), 0]
        edges = np.flatnonzero(np.diff(padded))
        return float(np.max(edges[1::2] - edges[::2], initial=0)) / SAMPLE_RATE

    assert longest_zero_run(moonshine_recording("endgame_nagg_nell")) > 0.5
    assert all(longest_zero_run(moonshine_recording(name)) < 0.01 for name in SPEAKERS)


def test_loading_twice_gives_identical_results_from_the_cache(moonshine: list[Utterance]) -> None:
    start = time.perf_counter()
    again = load_dataset("moonshine-human")
    assert time.perf_counter() - start < 5.0  # no recognition the second time (cold: about a minute)
    assert [(u.key, u.text, u.speaker) for u in again] == [(u.key, u.text, u.speaker) for u in moonshine]
    for a, b in zip(again, moonshine):
        np.testing.assert_array_equal(a.audio, b.audio)


def test_sentences_shorter_than_three_words_join_the_next() -> None:
    words = [(" Ever", 0.0, 0.5), (" tried.", 0.5, 1.0), (" Ever", 1.5, 2.0), (" failed.", 2.0, 2.5),
             (" Fail", 3.0, 3.5), (" better.", 3.5, 4.0)]
    assert [[w[0].strip() for w in g] for g in group_sentences(words)] == [
        ["Ever", "tried.", "Ever", "failed.", "Fail", "better."]
    ]
    words += [(" Try", 4.5, 4.8), (" again", 4.8, 5.0), (" now.", 5.0, 5.3)]
    assert [len(g) for g in group_sentences(words)] == [4, 5]


def test_every_recorded_set_labels_its_speakers(moonshine: list[Utterance]) -> None:
    # The packaged sets (minutes to build cold) check their own labels in test_packaged_human.
    labels = {name: {u.speaker for u in load_dataset(name)} for name in ("two-cities-human", "alsa-human")}
    assert labels == {"two-cities-human": {TWO_CITIES_SPEAKER}, "alsa-human": {ALSA_SPEAKER}}
    assert all(u.speaker for u in moonshine)
    assert Utterance("k", "t", np.zeros(1, np.float32)).speaker == ""  # old positional calls still work


def test_tts_utterances_are_labelled_with_the_voice() -> None:
    tts = load_dataset("two-cities-tts")
    assert {u.speaker for u in tts} == {"pico2wave:en-US"}
