"""Built-in speech sets: the aligned LibriVox clauses, their pico2wave twins and the alsa-utils recordings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.metrics import word_error_rate
from synthcheck.cache import cache_dir
from synthcheck.audio.windows import quietest_sample
from synthcheck.data.alignment import WordSpan, match_words, normalize_words, segment_cut_points
from synthcheck.data.datasets import (
    DATASETS,
    RECORDED_DATASETS,
    Utterance,
    load_dataset,
    split_clauses,
    two_cities_clauses,
    two_cities_cut_points,
)
from synthcheck.data.two_cities import PAPER_SENTENCES, TEXT
from synthcheck.errors import BadInputError


@pytest.fixture(scope="module")
def human() -> list:
    return load_dataset("two-cities-human")


def test_clauses_start_with_the_papers_ten_sentences() -> None:
    clauses = two_cities_clauses()
    assert [c.lower() for c in clauses[:10]] == list(PAPER_SENTENCES)
    assert normalize_words(" ".join(clauses)) == normalize_words(TEXT)
    assert all(len(c.split()) >= 3 for c in clauses)
    assert "in short the period was so far like the present period" in clauses


def test_split_clauses_joins_short_pieces() -> None:
    assert split_clauses("a b, c d e; f, g h i j.") == ["a b c d e", "f g h i j"]
    assert split_clauses("one two three, four") == ["one two three four"]


def test_human_clauses_are_contiguous_cuts_of_the_reading(human: list) -> None:
    cuts = two_cities_cut_points()
    assert len(human) == len(cuts) - 1 == 18
    assert np.all(np.diff(cuts) > 0.8 * SAMPLE_RATE)
    assert all(u.audio.dtype == np.float32 and 1.0 < u.seconds < 6.0 for u in human)
    assert [u.key for u in human[:2]] == ["two-cities-00", "two-cities-01"]


def test_cut_points_are_cached_once(human: list) -> None:
    files = list(cache_dir("datasets").glob("two-cities-alignment-*.json"))
    assert files, "alignment result was not cached"
    cached = json.loads(max(files, key=lambda p: p.stat().st_mtime).read_text())
    start = time.perf_counter()
    assert two_cities_cut_points() == cached["cuts"]
    assert time.perf_counter() - start < 5.0  # no second alignment (that takes tens of seconds)


def test_each_human_clause_transcribes_back_to_its_text(human: list) -> None:
    transcripts = get_recognizer("whisper-tiny.en").transcribe_batch([u.audio for u in human])
    wers = [word_error_rate(u.text, t) for u, t in zip(human, transcripts)]
    evidence = [(round(w, 2), t) for w, t in zip(wers, transcripts)]
    # A bad cut loses or adds words at a clause edge; tiny.en also mishears a word here and there
    # (and with its 6 s window sometimes repeats a short clause), so allow a few imperfect clauses.
    assert float(np.median(wers)) == 0.0, evidence
    assert sum(w <= 0.2 for w in wers) >= 15, evidence


def test_tts_set_has_the_same_clauses(human: list) -> None:
    tts = load_dataset("two-cities-tts")
    assert [u.text for u in tts] == [u.text for u in human]
    assert [u.key for u in tts] == [u.key for u in human]
    assert all(np.max(np.abs(u.audio)) > 0.05 for u in tts)


def test_alsa_recordings_are_named_by_their_text() -> None:
    alsa = load_dataset("alsa-human")
    assert len(alsa) == 8
    by_key = {u.key: u for u in alsa}
    assert by_key["front-center"].text == "front center"
    assert "noise" not in by_key
    assert all(0.8 < u.seconds < 3.0 for u in alsa)


def test_listing_the_sets_imports_no_torch() -> None:
    code = "import sys; from synthcheck.data.datasets import DATASETS; print(*DATASETS.names, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["two-cities-tts", "two-cities-human", "alsa-human", "moonshine-human", "package-human", "asterisk-human",
                           "ami-human", "False"]


def test_unknown_dataset_is_a_one_line_error_listing_the_sets() -> None:
    with pytest.raises(BadInputError, match="choose one of: two-cities-tts, two-cities-human, alsa-human, moonshine-human, package-human, "
                       "asterisk-human, ami-human$") as info:
        load_dataset("librispeech")
    assert "\n" not in str(info.value)
    with pytest.raises(BadInputError, match="unknown dataset 'tts'"):
        DATASETS["tts"]  # the experiment's TTS rendering is not a set of fixed utterances


def test_the_registry_says_who_spoke_each_set() -> None:
    assert [name for name, spec in DATASETS.items() if spec.synthetic] == ["two-cities-tts"]
    assert RECORDED_DATASETS == ("two-cities-human", "alsa-human", "moonshine-human", "package-human", "asterisk-human",
                                 "ami-human")
    assert all(spec.name == name for name, spec in DATASETS.items())
    assert DATASETS["two-cities-human"].texts() == two_cities_clauses()  # no audio needed
    assert DATASETS["alsa-human"].texts is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["alsa-human"].synthetic = True  # type: ignore[misc]


def test_build_loads_the_sets_utterances() -> None:
    alsa = DATASETS["alsa-human"].build()
    assert all(isinstance(u, Utterance) for u in alsa) and len(alsa) == 8
    assert [(u.key, u.text) for u in alsa] == [(u.key, u.text) for u in load_dataset("alsa-human")]
    np.testing.assert_array_equal(alsa[0].audio, load_dataset("alsa-human")[0].audio)


def test_match_words_interpolates_misheard_words() -> None:
    heard = [(" It", 0.0, 0.2), (" was", 0.2, 0.4), (" da", 0.4, 0.5), (" best.", 0.6, 0.9)]
    spans = match_words("it was the best", heard)
    assert [s.word for s in spans] == ["it", "was", "the", "best"]
    assert [s.matched for s in spans] == [True, True, False, True]
    assert spans[2].start == pytest.approx(0.4) and spans[2].end == pytest.approx(0.6)
    with pytest.raises(BadInputError, match="alignment failed"):
        match_words("completely different words here", heard)


def test_cuts_fall_in_the_pause_between_segments() -> None:
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.3, 3 * SAMPLE_RATE).astype(np.float32)
    audio[int(1.3 * SAMPLE_RATE) : int(1.5 * SAMPLE_RATE)] = 0.0  # the pause
    spans = [WordSpan("a", 0.3, 0.8, True), WordSpan("b", 0.8, 1.25, True), WordSpan("c", 1.45, 2.0, True)]
    cuts = segment_cut_points(audio, spans, [2, 1])
    assert 1.3 * SAMPLE_RATE <= cuts[1] <= 1.5 * SAMPLE_RATE
    assert cuts[0] == pytest.approx(0.05 * SAMPLE_RATE, abs=1) and cuts[-1] == pytest.approx(2.25 * SAMPLE_RATE, abs=1)
    assert 1.3 * SAMPLE_RATE <= quietest_sample(audio, 1.0, 2.0) <= 1.5 * SAMPLE_RATE
    with pytest.raises(BadInputError):
        segment_cut_points(audio, spans, [1, 1])
