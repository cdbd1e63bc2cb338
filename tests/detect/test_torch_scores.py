"""Detectors' differentiable scores (Detector.torch_score / penalty) equal their numpy verdicts, on real speech.

Real pico2wave / espeak-ng / flite speech, the real Whisper tiny.en judge; DTW, template correlation, likelihood,
PocketSphinx alignment (its torch copy against PocketSphinx itself) and all-of detectors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.asr import get_recognizer
from synthcheck.detect import AllOfDetector, ConsistencyDetector, build_detector
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import VoiceSearch
from synthcheck.errors import BadInputError
from synthcheck.tts import synthesizer_from_id

CLAUSE = "it was the best of times"
OTHER = "we had nothing before us"


@pytest.fixture(scope="module")
def tiny():
    return get_recognizer("whisper-tiny.en")


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


def numpy_scores(detector, audios: list[np.ndarray], labels: list[str]) -> list[float]:
    return [detector.check_transcript(a, label).score for a, label in zip(audios, labels)]


def test_dtw_torch_score_is_the_verdict_score_on_a_padded_batch(tiny, clauses) -> None:
    audios = [clauses[CLAUSE], clauses[OTHER]]
    assert audios[0].size != audios[1].size
    batch, lengths = padded(audios)
    dtw = build_detector(tiny, "dtw")
    assert dtw.differentiable and dtw.score_name == "dtw"
    for labels in ([CLAUSE, CLAUSE], [OTHER, OTHER]):  # each label: one item's own text, the other's other text
        with torch.no_grad():
            scores = dtw.torch_score(batch, labels, lengths).double().numpy()
        assert scores == pytest.approx(numpy_scores(dtw, audios, labels), abs=1e-6)
        own = 0 if labels[0] == CLAUSE else 1
        assert scores[own] > 0.99 and scores[1 - own] < 0.6
    assert np.array_equal(dtw.penalty(batch, [CLAUSE, CLAUSE], lengths)[1], [True, True])  # 0.41 >= 0.305
    strict = build_detector(tiny, "dtw", threshold=0.5)
    assert np.array_equal(strict.penalty(batch, [CLAUSE, CLAUSE], lengths)[1], [True, False])


def test_several_voices_score_the_best_take(tiny, clauses) -> None:
    observed = synthesizer_from_id("espeak-ng:en-us").synthesize(CLAUSE)
    voices = ("pico2wave:en-US", "flite:slt")
    detector = ConsistencyDetector(tiny, VoiceSearch(voices, speeds=(1.0,)), DtwComparator(), 0.362)
    with torch.no_grad():
        score = float(detector.torch_score(torch.from_numpy(observed)[None], [CLAUSE])[0])
    per_voice = [DtwComparator().score(observed, synthesizer_from_id(v).synthesize(CLAUSE)).score for v in voices]
    assert abs(per_voice[0] - per_voice[1]) > 1e-3
    assert score == pytest.approx(max(per_voice), abs=1e-6)
    assert score == pytest.approx(detector.check_transcript(observed, CLAUSE).score, abs=1e-6)
    with pytest.raises(BadInputError, match="band"):
        DtwComparator(band=1.5)


def test_dtw_gradient_reaches_the_waveform_and_not_the_padding(tiny, clauses) -> None:
    batch, lengths = padded([clauses[CLAUSE], clauses[OTHER]])
    batch.requires_grad_(True)
    score = build_detector(tiny, "dtw").torch_score(batch, [OTHER, CLAUSE], lengths)
    (gradient,) = torch.autograd.grad(score.sum(), batch)
    assert torch.isfinite(gradient).all()
    for i, n in enumerate(lengths):
        assert float(gradient[i, :n].abs().max()) > 1e-3
        assert float(gradient[i, n:].abs().max()) == 0.0


def test_gradient_descent_on_the_penalty_raises_the_detector_score(tiny, pico, clauses) -> None:
    clean = torch.from_numpy(clauses[CLAUSE])[None]
    dtw = build_detector(tiny, "dtw")
    delta = torch.zeros_like(clean, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=0.005)
    for _ in range(6):
        optimizer.zero_grad()
        dtw.penalty((clean + delta).clamp(-1, 1), [OTHER])[0].sum().backward()
        optimizer.step()
        with torch.no_grad():
            delta.clamp_(-0.05, 0.05)
    adversarial = (clean + delta).detach().clamp(-1, 1)[0].numpy()
    before = dtw.check_transcript(clauses[CLAUSE], OTHER).score
    after = dtw.check_transcript(adversarial, OTHER).score
    assert float(np.abs(adversarial - clauses[CLAUSE]).max()) <= 0.05 + 1e-6
    assert after > before + 0.1


def test_template_xcorr_torch_score_is_the_verdict_score(tiny, clauses) -> None:
    audios = [clauses[CLAUSE], clauses[OTHER]]
    batch, lengths = padded(audios, extra=4000)
    xcorr = build_detector(tiny, "xcorr-template")
    labels = ["good morning", OTHER]
    with torch.no_grad():
        scores = xcorr.torch_score(batch, labels, lengths).double().numpy()
    assert scores == pytest.approx(numpy_scores(xcorr, audios, labels), abs=1e-5)
    assert scores[1] > 0.99 > scores[0]
    with pytest.raises(BadInputError, match="shorter than"):
        xcorr.torch_score(batch[:, :1000], labels)


def test_likelihood_penalty_is_the_judge_loss_and_its_score_the_verdict_score(tiny, clauses) -> None:
    audios = [clauses[CLAUSE], clauses[OTHER]]
    batch, lengths = padded(audios)
    likelihood = build_detector(tiny, "likelihood-tiny.en")
    labels = [CLAUSE, CLAUSE]
    penalty, passes = likelihood.penalty(batch, labels, lengths)
    assert torch.equal(penalty, tiny.loss(batch, labels, reduction="none"))
    with torch.no_grad():
        scores = likelihood.torch_score(batch, labels, lengths).double().numpy()
    expected = numpy_scores(likelihood, audios, labels)
    assert scores == pytest.approx(expected, rel=1e-3)
    assert passes.tolist() == [s >= likelihood.threshold for s in expected] == [True, False]


def test_all_of_torch_score_and_decision_are_the_verdicts(tiny, clauses) -> None:
    members = [build_detector(tiny, "likelihood-tiny.en"), build_detector(tiny, "dtw")]
    both = AllOfDetector(members, name="both")
    assert both.differentiable and both.score_name == "likelihood-tiny.en+dtw"
    audios = [clauses[CLAUSE], clauses[OTHER]]
    batch, lengths = padded(audios)
    labels = [CLAUSE, CLAUSE]
    penalty, passes = both.penalty(batch, labels, lengths)
    with torch.no_grad():
        member_penalties = sum(m.penalty(batch, labels, lengths)[0] for m in members)
        scores = both.torch_score(batch, labels, lengths).double().numpy()
    assert torch.allclose(penalty.detach(), member_penalties, rtol=1e-6)
    verdicts = [both.check_transcript(a, label) for a, label in zip(audios, labels)]
    assert scores == pytest.approx([v.score for v in verdicts], rel=1e-3)
    assert passes.tolist() == [v.consistent for v in verdicts] == [True, False]


def test_align_torch_score_is_a_conservative_copy_of_pocketsphinx_and_its_gradient_raises_it(tiny, clauses) -> None:
    from synthcheck.detect.forced_alignment import LLR_SCALE, TORCH_LLR_MARGIN

    align = build_detector(tiny, "align")
    assert align.differentiable
    audios = [clauses[CLAUSE], clauses[OTHER]]
    batch, lengths = padded(audios, extra=5000)  # padding must not reach the judge (it would add frames)
    labels = [CLAUSE, CLAUSE]
    with torch.no_grad():
        scores = align.torch_score(batch, labels, lengths).double().numpy()
    torch_llr = LLR_SCALE * np.log(scores / (1 - np.maximum(scores, 1e-300))) + TORCH_LLR_MARGIN
    real = [align.check_transcript(a, label).details.get("llr_per_frame", -np.inf) for a, label in zip(audios, labels)]
    # Measured: the torch llr exceeds pocketsphinx's by 0.04-0.30 nats/frame; the margin covers that here.
    assert torch_llr[0] == pytest.approx(real[0], abs=0.5) and torch_llr[0] - TORCH_LLR_MARGIN <= real[0]
    assert scores[0] > scores[1]  # the other clause's audio does not say CLAUSE
    # A few signed-gradient steps on the penalty raise pocketsphinx's own score of the wrong transcript.
    clean = torch.from_numpy(clauses[OTHER])[None]
    delta = torch.zeros_like(clean, requires_grad=True)
    for _ in range(5):
        (grad,) = torch.autograd.grad(align.penalty(clean + delta, [CLAUSE])[0].sum(), delta)
        with torch.no_grad():
            delta -= 0.002 * grad.sign()
    before = align.check_transcript(clauses[OTHER], CLAUSE).score
    after = align.check_transcript((clean + delta).detach()[0].numpy(), CLAUSE).score
    assert after > before


def test_non_differentiable_detectors_say_so(tiny, clauses) -> None:
    batch, lengths = padded([clauses[CLAUSE]])
    for name in ("paper", "seed-corrcoef"):
        detector = build_detector(tiny, name)
        assert not detector.differentiable
        with pytest.raises(BadInputError, match="no differentiable score"):
            detector.penalty(batch, [CLAUSE], lengths)
