"""Beam-search decoding of the PyTorch Whisper (tiny.en): greedy parity, accuracy, CTranslate2 and openai-whisper
agreement, batching, token cap, repetition stop, ranking, and the ``transcribe --beam-size`` option."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthcheck.asr.registry import get_recognizer
from synthcheck.asr.whisper import WhisperRecognizer, ct2
from synthcheck.asr.whisper.decoding import BeamSearch
from synthcheck.audio.io import save_wav
from synthcheck.audio.metrics import word_error_rate
from synthcheck.cli import main
from synthcheck.data.two_cities import PAPER_SENTENCES
from synthcheck.errors import BadInputError
from synthcheck.tts import get_synthesizer

#: Three en-GB clauses: two easy, and "epoch of incredulity", which greedy decoding gets wrong.
CLAUSES = tuple(PAPER_SENTENCES[i] for i in (0, 5, 9))


@pytest.fixture(scope="module")
def clauses() -> list[np.ndarray]:
    pico = get_synthesizer("pico2wave", "en-GB")
    return [pico.synthesize(text) for text in CLAUSES]


@pytest.fixture(scope="module")
def batch(clauses) -> torch.Tensor:
    return batch_of(clauses)


@pytest.fixture(scope="module")
def beam5(tiny, batch) -> list[list[int]]:
    return tiny.decode_tokens(batch, beam_size=5)


def batch_of(items: list[np.ndarray]) -> torch.Tensor:
    out = torch.zeros(len(items), max(item.size for item in items))
    for row, item in zip(out, items, strict=True):
        row[: item.size] = torch.from_numpy(item)
    return out


def texts(recognizer: WhisperRecognizer, tokens: list[list[int]]) -> list[str]:
    return [recognizer.tokenizer.decode(t).strip() for t in tokens]


@torch.no_grad()
def uncached_greedy(recognizer: WhisperRecognizer, audio: torch.Tensor, steps: int) -> list[list[int]]:
    """Oracle: argmax decoding re-running the whole decoder on the full sequence every step (no KV cache)."""
    features = recognizer.encode(audio)
    tokens = torch.tensor([recognizer.prefix] * audio.shape[0])
    for step in range(steps):
        logits = recognizer.model.decoder(tokens, features)[:, -1]
        chosen = recognizer.suppression.apply(logits, first_position=None if step else 0).argmax(-1)
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
    eot, outputs = recognizer.tokenizer.eot, []
    for row in tokens[:, len(recognizer.prefix) :].tolist():
        outputs.append(row[: row.index(eot)] if eot in row else row)
    return outputs


def test_beam_size_one_is_greedy_decoding(tiny, batch) -> None:
    greedy = tiny.decode_tokens(batch, beam_size=1)
    assert greedy == uncached_greedy(tiny, batch, steps=max(map(len, greedy)) + 1)
    assert tiny.beam_size == 1 and tiny.decode_tokens(batch) == greedy  # greedy stays the default
    assert tiny.would_decode_to(batch, texts(tiny, greedy)).all()


def test_beam_is_at_least_as_accurate_as_greedy(tiny, batch, beam5) -> None:
    greedy_wer = word_error_rate(list(CLAUSES), texts(tiny, tiny.decode_tokens(batch)))
    beam_wer = word_error_rate(list(CLAUSES), texts(tiny, beam5))
    print(f"\ntiny.en on {len(CLAUSES)} pico2wave en-GB clauses: WER greedy {greedy_wer:.1%}, beam 5 {beam_wer:.1%}")
    assert beam_wer <= greedy_wer
    assert beam_wer < 0.1


def test_beam_agrees_with_ctranslate2(tiny, batch, beam5, tmp_path) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    path = ct2.ctranslate2_model_dir(ct2.locate_package("tiny.en"), tmp_path)
    model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="float32", intra_threads=2)
    mel = ctranslate2.StorageView.from_array(np.ascontiguousarray(tiny.log_mel(batch).numpy()))
    results = model.generate(mel, [tiny.prefix] * batch.shape[0], beam_size=5)
    assert [r.sequences_ids[0] for r in results] == beam5


def test_transcribe_batch_uses_the_beam_size_and_items_are_independent(tiny, clauses, beam5) -> None:
    beam = tiny.with_beam_size(5)
    assert beam.model is tiny.model and beam.beam_size == 5 and tiny.beam_size == 1
    together = beam.transcribe_batch(clauses)
    assert together == texts(tiny, beam5)
    assert [beam.transcribe(clauses[1])] == together[1:2]


def test_token_cap_holds_for_every_beam(tiny, batch) -> None:
    capped = tiny.decode_tokens(batch, max_new_tokens=3, beam_size=4)
    assert [len(tokens) for tokens in capped] == [3, 3, 3]
    assert tiny.decode_tokens(batch[:1], max_new_tokens=0, beam_size=4) == [[]]


def test_bad_beam_size_is_rejected(tiny) -> None:
    for bad in (0, -2, 2.5, True):
        with pytest.raises(BadInputError, match="beam_size"):
            tiny.with_beam_size(bad)
    with pytest.raises(BadInputError, match="beam_size"):
        tiny.decode_tokens(torch.zeros(1, 16000), beam_size=0)


# ---------------------------------------------------------------- the search on hand-made distributions
EOT = 9


def run_search(table: dict[tuple[int, ...], dict[int, float]], beams: int, steps: int) -> list[int]:
    """Beam search over a toy model of 10 tokens (EOT = 9): ``table[history]`` gives next-token probabilities,
    other tokens get about e^-30; a history not in the table continues with token 0 (it never ends)."""
    search = BeamSearch(1, beams, EOT)
    for _ in range(steps):
        logprobs = torch.full((beams, 10), -30.0)
        for row, history in enumerate(search.history.tolist()):
            for token, p in table.get(tuple(history), {0: 1.0}).items():
                logprobs[row, token] = math.log(p)
        if search.step(F.log_softmax(logprobs, dim=-1))[0].numel() == 0:
            break
    return search.best()[0]


def test_ranking_is_by_mean_log_probability() -> None:
    # "1" then EOT: log 0.5 over 1 token (-0.69); "2 3" then EOT: log 0.4 over 2 tokens (-0.46)
    table = {(): {1: 0.5, 2: 0.4, 5: 0.1}, (1,): {EOT: 1.0}, (2,): {3: 1.0}, (2, 3): {EOT: 1.0}}
    assert run_search(table, beams=2, steps=6) == [2, 3]
    assert run_search(table, beams=1, steps=6) == [1]  # greedy takes the likelier first token


@pytest.mark.parametrize("beams", [1, 3])
def test_a_looping_hypothesis_is_cut_to_one_copy(beams) -> None:
    loop = {(1, 2) * (n // 2) + (1,) * (n % 2): {2 if n % 2 else 1: 1.0} for n in range(12)}
    assert run_search(loop, beams=beams, steps=20) == [1, 2]


def test_token_cap_returns_the_best_live_hypothesis() -> None:
    assert run_search({(): {4: 0.9, 5: 0.1}}, beams=3, steps=3) == [4, 0, 0]


# ---------------------------------------------------------------- command line
def test_cli_transcribe_with_beam_size(clauses, tmp_path, capsys) -> None:
    path = save_wav(tmp_path / "clause.wav", clauses[1])
    assert main(["transcribe", str(path), "--asr", "whisper-tiny.en", "--beam-size", "5", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert word_error_rate(CLAUSES[1], json.loads(out)["transcript"]) < 0.2
    assert get_recognizer("whisper-tiny.en").beam_size == 1  # the shared recogniser keeps greedy decoding


@pytest.mark.parametrize("args", [["--beam-size", "0"], ["--asr", "pocketsphinx", "--beam-size", "3"]])
def test_cli_bad_beam_size_is_one_line_exit_2(args, clauses, tmp_path, capsys) -> None:
    path = save_wav(tmp_path / "clause.wav", clauses[0])
    assert main(["transcribe", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "beam" in err.lower()


@pytest.mark.slow
def test_beam_equals_openai_whisper_beam_search() -> None:
    """Same algorithm as openai-whisper's own decoder (30 s window, per item) on the ten en-US clauses."""
    from whisper.decoding import DecodingOptions, decode

    pico = get_synthesizer("pico2wave", "en-US")
    audio = batch_of([pico.synthesize(text) for text in PAPER_SENTENCES])
    recognizer = WhisperRecognizer.load("tiny.en", window_seconds=30.0)
    options = DecodingOptions(beam_size=5, language="en", without_timestamps=True, fp16=False)
    mel = recognizer.log_mel(audio)
    theirs = [decode(recognizer.model, mel[i], options).text.strip() for i in range(mel.shape[0])]
    assert texts(recognizer, recognizer.decode_tokens(audio, beam_size=5)) == theirs
