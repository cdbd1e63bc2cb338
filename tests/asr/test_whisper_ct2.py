"""Whisper in PyTorch against the real CTranslate2 runtime (same packaged model.bin) and word error rates.

Parity: encoder outputs on the same 30 s log-mel agree to ATOL (max abs difference; CT2 computes in float32
from the same float16 weights, differences come from kernel order); greedy transcripts are identical.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from synthcheck.asr.whisper import WhisperRecognizer, ct2
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.metrics import word_error_rate
from synthcheck.data.two_cities import PAPER_SENTENCES, TEXT, librivox_two_cities
from synthcheck.tts import get_synthesizer
from synthcheck.audio.windows import split_at_pauses

#: The test requirements list ctranslate2 (the parity oracle), so in CI its absence is a failure, not a skip.
TEST_REQUIREMENTS = Path(__file__).parents[2] / "requirements" / "test.txt"

#: Max abs difference allowed between the PyTorch and CT2 encoder outputs (layer-normed, values ~O(1)).
ATOL = 2e-3
#: The issue's WER bound: the ten clauses read by pico2wave as the paragraph they come from, and the LibriVox reading.
MAX_WER = 0.10
#: Each clause alone (1.3-2 s, no context) is harder: en-US "It was" is heard as "It wears". Measured 2026-11-30
#: (8 s window): tiny.en 20.0 %, base 20.0 % isolated, against 5.0 % / 3.3 % for the same ten clauses read as one
#: passage. A regression guard only, not the issue's target.
MAX_WER_ISOLATED_CLAUSE = 0.35

#: The ten clauses as the paragraph reads them: "It was the best of times, it was the worst of times, ...".
PASSAGE = ", ".join(PAPER_SENTENCES).capitalize() + "."


def require_ctranslate2():
    """The ``ctranslate2`` module. Only the parity tests need it (the WER tests run without it); when it is
    missing they fail under ``CI`` (it is a listed test requirement) and skip, with the reason, elsewhere."""
    try:
        return importlib.import_module("ctranslate2")
    except ImportError:
        listed = "ctranslate2" in TEST_REQUIREMENTS.read_text().split()
        message = f"ctranslate2 is not installed{' (listed in requirements/test.txt)' if listed else ''}"
        if listed and os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def ct2_whisper(size: str, tmp_path: Path):
    ctranslate2 = require_ctranslate2()
    path = ct2.ctranslate2_model_dir(ct2.locate_package(size), tmp_path)
    return ctranslate2.models.Whisper(str(path), device="cpu", compute_type="float32", intra_threads=2)


def ct2_greedy(model, recognizer: WhisperRecognizer, mel: torch.Tensor) -> list[str]:
    ctranslate2 = require_ctranslate2()
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
    results = model.generate(features, [recognizer.prefix] * mel.shape[0], beam_size=1)
    return [recognizer.tokenizer.decode(r.sequences_ids[0]).strip() for r in results]


def batch_of(items: list[np.ndarray]) -> torch.Tensor:
    batch = torch.zeros(len(items), max(item.size for item in items))
    for row, item in zip(batch, items, strict=True):
        row[: item.size] = torch.from_numpy(item)
    return batch


@pytest.fixture(scope="module")
def pico_us() -> list[np.ndarray]:
    pico = get_synthesizer("pico2wave", "en-US")
    return [pico.synthesize(text) for text in PAPER_SENTENCES]


@pytest.fixture(scope="module")
def pico_gb() -> list[np.ndarray]:
    pico = get_synthesizer("pico2wave", "en-GB")
    return [pico.synthesize(text) for text in PAPER_SENTENCES]


def check_parity(size: str, clauses: list[np.ndarray], tmp_path: Path) -> None:
    ctranslate2 = require_ctranslate2()
    recognizer = WhisperRecognizer.load(size, window_seconds=30.0)
    model = ct2_whisper(size, tmp_path)
    mel = recognizer.log_mel(batch_of(clauses))
    with torch.no_grad():
        ours = recognizer.encode_mel(mel).numpy()
    theirs = np.array(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy())),
                                   to_cpu=True))
    difference = float(np.abs(ours - theirs).max())
    print(f"\n{size}: encoder max |torch - ct2| = {difference:.2e}")
    assert ours.shape == theirs.shape
    assert difference < ATOL
    assert recognizer.transcribe_batch(clauses) == ct2_greedy(model, recognizer, mel)


def check_wer(size: str, pico_us: list[np.ndarray], pico_gb: list[np.ndarray]) -> None:
    """WER of the ten clauses read as one passage by both pico2wave voices, each clause alone, and LibriVox."""
    recognizer = WhisperRecognizer.load(size)
    wers = {
        f"pico2wave {voice} passage": word_error_rate(
            PASSAGE, recognizer.transcribe(get_synthesizer("pico2wave", voice).synthesize(PASSAGE)))
        for voice in ("en-US", "en-GB")
    }
    wers["LibriVox"] = word_error_rate(TEXT, recognizer.transcribe(librivox_two_cities()))
    isolated = {
        f"pico2wave {voice} clause by clause": word_error_rate(list(PAPER_SENTENCES), recognizer.transcribe_batch(clauses))
        for voice, clauses in (("en-US", pico_us), ("en-GB", pico_gb))
    }
    print(f"\n{size} WER: " + ", ".join(f"{k} {v:.1%}" for k, v in (wers | isolated).items()))
    assert all(wer < MAX_WER for wer in wers.values()), wers
    assert all(wer < MAX_WER_ISOLATED_CLAUSE for wer in isolated.values()), isolated


def test_tiny_matches_ctranslate2(pico_us, tmp_path) -> None:
    check_parity("tiny.en", pico_us[:4], tmp_path)


@pytest.mark.slow
def test_base_matches_ctranslate2(pico_us, tmp_path) -> None:
    check_parity("base", pico_us, tmp_path)


def test_tiny_word_error_rate(pico_us, pico_gb) -> None:
    check_wer("tiny.en", pico_us, pico_gb)


def test_base_word_error_rate(pico_us, pico_gb) -> None:
    check_wer("base", pico_us, pico_gb)


def test_split_at_pauses_keeps_every_sample() -> None:
    audio = librivox_two_cities()
    pieces = split_at_pauses(audio)
    assert all(piece.size <= 30 * SAMPLE_RATE for piece in pieces) and len(pieces) == 2
    assert np.array_equal(np.concatenate(pieces), audio)


def test_missing_ctranslate2_fails_in_ci_and_skips_with_its_reason_elsewhere(monkeypatch) -> None:
    assert "ctranslate2" in TEST_REQUIREMENTS.read_text().split()
    real_import = importlib.import_module

    def without_ctranslate2(name: str, *args):
        if name == "ctranslate2":
            raise ImportError("No module named 'ctranslate2'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_ctranslate2)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="requirements/test.txt"):
        require_ctranslate2()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="ctranslate2 is not installed"):
        require_ctranslate2()
