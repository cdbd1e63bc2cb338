"""The align judge in its second process (detect/align_worker.py) and detectors judging beside it: the same
answers as in this process, a dead worker costs nothing, batches agree with one-by-one checks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from synthcheck.asr.registry import get_recognizer
from synthcheck.data.datasets import Utterance, load_dataset
from synthcheck.detect import DEFAULT_DETECTOR, build_detector
from synthcheck.detect.align_worker import AlignmentWorker, shared_worker
from synthcheck.detect.forced_alignment import AlignmentComparator
from synthcheck.errors import BadInputError


@pytest.fixture(scope="module")
def clauses() -> list[Utterance]:
    return load_dataset("two-cities-human")[:3]


def test_the_worker_gives_exactly_the_in_process_scores(clauses: list[Utterance]) -> None:
    here, there = AlignmentComparator(background=False), AlignmentComparator()
    assert shared_worker() is not None
    wrong = clauses[1].text
    started = [(there.begin(c.audio), c.audio, text) for c in clauses for text in (c.text, wrong)]
    assert all(judgement.background for judgement, _, _ in started)
    for judgement, _, text in started:  # every phone loop was sent before any transcript
        judgement.submit(text)
    for judgement, audio, text in started:
        assert judgement.result() == here.score_checked(audio, text)  # score and every detail, bit for bit


def test_a_killed_worker_falls_back_to_this_process_with_the_same_answer(clauses: list[Utterance], caplog) -> None:
    worker, here = AlignmentWorker(), AlignmentComparator(background=False)
    clause = clauses[0]
    try:
        alive = worker.begin(here, clause.audio)
        alive.submit(clause.text)
        assert alive.result() == here.score_checked(clause.audio, clause.text)
        orphan = worker.begin(here, clause.audio)
        worker._process.kill()
        worker._process.wait()
        orphan.submit(clause.text)
        assert orphan.result() == here.score_checked(clause.audio, clause.text)
        assert not worker.alive and "align worker process stopped" in caplog.text
        assert worker.begin(here, clause.audio).background is False  # from now on: in this process
    finally:
        worker.close()


def test_a_script_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from synthcheck.data.datasets import load_dataset
        from synthcheck.detect.forced_alignment import AlignmentComparator
        print("top level ran")
        clause = load_dataset("two-cities-human")[0]
        judgement = AlignmentComparator().begin(clause.audio)
        judgement.submit(clause.text)
        print("background", judgement.background, round(judgement.result().score, 6))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("top level ran") == 1
    assert "background True" in done.stdout


def test_the_default_detector_beside_its_worker_agrees_with_the_in_process_one(clauses: list[Utterance]) -> None:
    recognizer = get_recognizer("whisper-tiny.en")
    beside, alone = build_detector(recognizer, DEFAULT_DETECTOR), build_detector(recognizer, DEFAULT_DETECTOR)
    alone.members[1].comparator.background = False  # type: ignore[attr-defined]
    long = np.concatenate([c.audio for c in clauses] * 6)  # about 35 s: two windows
    recordings = [c.audio for c in clauses] + [long]
    threads = torch.get_num_threads()
    one_by_one = [beside.check(recording) for recording in recordings]  # one recording: judged beside the worker
    assert torch.get_num_threads() == threads  # the thread lent to the worker is given back
    batch = beside.check_batch(recordings)  # several: batched through the recogniser, judged here
    for recording, single, batched in zip(recordings, one_by_one, batch, strict=True):
        reference = alone.check(recording)
        for verdict in (single, batched):
            assert verdict.transcript == reference.transcript and verdict.consistent == reference.consistent
            members, expected = verdict.details["members"], reference.details["members"]
            assert members["align"]["details"] == expected["align"]["details"]  # PocketSphinx: bit for bit
            # torch on one thread fewer, or batched: float rounding only
            assert members["likelihood-base"]["score"] == pytest.approx(expected["likelihood-base"]["score"],
                                                                        abs=1e-5)
    assert len(batch[-1].details["windows"]) == 2 and len(one_by_one[-1].details["windows"]) == 2


def test_transcripts_judged_together_get_the_verdicts_they_get_alone(clauses: list[Utterance]) -> None:
    detector = build_detector(get_recognizer("whisper-tiny.en"), DEFAULT_DETECTOR)
    audios, texts = [c.audio for c in clauses], [c.text for c in clauses[1:]] + [clauses[0].text]  # wrong texts
    together = detector.check_transcripts(audios, texts)
    for audio, text, verdict in zip(audios, texts, together, strict=True):
        alone = detector.check_transcript(audio, text)
        assert verdict.transcript == text and verdict.consistent == alone.consistent
        assert verdict.score == pytest.approx(alone.score, abs=1e-6)
    with pytest.raises(BadInputError, match="2 recordings but 1 transcripts"):
        detector.check_transcripts(audios[:2], texts[:1])
