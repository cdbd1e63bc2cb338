"""DtwTerm (attacks/adaptive.py): the DTW detector's score in torch, on real pico2wave / espeak-ng / flite speech."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.attacks.adaptive import DtwTerm
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import DEFAULT_VOICES
from synthcheck.errors import BadInputError
from synthcheck.tts import synthesizer_from_id

CLAUSE = "it was the best of times"
OTHER = "we had nothing before us"


@pytest.fixture(scope="module")
def pico():
    return synthesizer_from_id("pico2wave:en-US")


@pytest.fixture(scope="module")
def clauses(pico) -> dict[str, np.ndarray]:
    return {text: pico.synthesize(text) for text in (CLAUSE, OTHER)}


def padded(audios: list[np.ndarray], extra: int = 3000) -> tuple[torch.Tensor, list[int]]:
    batch = torch.zeros(len(audios), max(a.size for a in audios) + extra)
    for i, a in enumerate(audios):
        batch[i, : a.size] = torch.from_numpy(a)
    return batch, [a.size for a in audios]


def test_dtw_term_is_the_comparator_score_on_a_padded_batch(pico, clauses) -> None:
    audios = [clauses[CLAUSE], clauses[OTHER]]
    assert audios[0].size != audios[1].size
    batch, lengths = padded(audios)
    term = DtwTerm(threshold=0.305)
    comparator = DtwComparator()
    for labels in ([CLAUSE, CLAUSE], [OTHER, OTHER]):  # each label: one item's own text, the other's other text
        scores = term.score(batch, labels, lengths).double().numpy()
        expected = [comparator.score(a, pico.synthesize(label)).score for a, label in zip(audios, labels)]
        assert scores == pytest.approx(expected, abs=1e-6)
        own = 0 if labels[0] == CLAUSE else 1
        assert scores[own] > 0.99 and scores[1 - own] < 0.6
    assert np.array_equal(term.passes(batch, [CLAUSE, CLAUSE], lengths), [True, True])  # 0.41 >= 0.305
    assert np.array_equal(DtwTerm(threshold=0.5).passes(batch, [CLAUSE, CLAUSE], lengths), [True, False])


def test_several_voices_score_the_best_take(clauses) -> None:
    observed = synthesizer_from_id("espeak-ng:en-us").synthesize(CLAUSE)
    voices = ("pico2wave:en-US", "flite:slt")
    term = DtwTerm(threshold=0.362, voices=voices)
    score = float(term.score(torch.from_numpy(observed)[None], [CLAUSE])[0])
    per_voice = [DtwComparator().score(observed, synthesizer_from_id(v).synthesize(CLAUSE)).score for v in voices]
    assert abs(per_voice[0] - per_voice[1]) > 1e-3
    assert score == pytest.approx(max(per_voice), abs=1e-6)
    assert term.name == "voices2-dtw" and DtwTerm(0.3).name == "dtw-mfcc"
    assert DtwTerm(0.362, voices=DEFAULT_VOICES).name == "voices-dtw"
    with pytest.raises(BadInputError, match="band"):
        DtwTerm(0.3, band=1.5)


def test_dtw_term_gradient_reaches_the_waveform_and_not_the_padding(clauses) -> None:
    batch, lengths = padded([clauses[CLAUSE], clauses[OTHER]])
    batch.requires_grad_(True)
    score = DtwTerm(threshold=0.305).score(batch, [OTHER, CLAUSE], lengths)
    (gradient,) = torch.autograd.grad(score.sum(), batch)
    assert torch.isfinite(gradient).all()
    for i, n in enumerate(lengths):
        assert float(gradient[i, :n].abs().max()) > 1e-3
        assert float(gradient[i, n:].abs().max()) == 0.0


def test_gradient_ascent_on_the_term_raises_the_detector_score(pico, clauses) -> None:
    clean = torch.from_numpy(clauses[CLAUSE])[None]
    term = DtwTerm(threshold=0.305)
    delta = torch.zeros_like(clean, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=0.005)
    for _ in range(6):
        optimizer.zero_grad()
        term.neg_log_score((clean + delta).clamp(-1, 1), [OTHER]).sum().backward()
        optimizer.step()
        with torch.no_grad():
            delta.clamp_(-0.05, 0.05)
    adversarial = (clean + delta).detach().clamp(-1, 1)[0].numpy()
    rendering = pico.synthesize(OTHER)
    before = DtwComparator().score(clauses[CLAUSE], rendering).score
    after = DtwComparator().score(adversarial, rendering).score
    assert float(np.abs(adversarial - clauses[CLAUSE]).max()) <= 0.05 + 1e-6
    assert after > before + 0.1
