"""Adaptive attacks (the Attack loop with a DetectorPenalty) with the real Whisper tiny.en (attacked) and base
(judge), real pico2wave.

The detectors' torch scores themselves are checked against their verdicts in tests/detect/test_torch_scores.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.asr import get_recognizer
from synthcheck.attacks import Attack, AttackBatch, AttackConfig, TargetText, pad_batch
from synthcheck.attacks.adaptive import DetectorPenalty, small_edit_target
from synthcheck.audio.metrics import normalize_text
from synthcheck.detect import AllOfDetector, build_detector
from synthcheck.detect.comparators import CorrelationComparator
from synthcheck.errors import BadInputError
from synthcheck.tts import synthesizer_from_id

TARGET = "hello word"


@pytest.fixture(scope="module")
def base():
    return get_recognizer("whisper-base")


@pytest.fixture(scope="module")
def pico():
    return synthesizer_from_id("pico2wave:en-US")


def test_small_edit_target_swaps_one_word_for_a_near_homophone() -> None:
    assert small_edit_target("It was the best of times") == "it was the best of dimes"
    assert small_edit_target("we had nothing before us") == "we had something before us"
    assert small_edit_target("front center") == "front centers"  # no table word: plural of the last content word
    edited = small_edit_target("It was the age of wisdom")
    assert len(edited.split()) == 6 and sum(a != b for a, b in zip(edited.split(), "it was the age of wisdom".split())) == 1
    with pytest.raises(BadInputError, match="near-homophone"):
        small_edit_target("it of")


def _batch(audio: torch.Tensor, labels: list[str]) -> AttackBatch:
    return AttackBatch(audio, torch.ones_like(audio), [audio.shape[1]] * audio.shape[0], labels)


def test_detector_penalty_is_the_judge_loss_with_gradients(tiny, base, hello: np.ndarray) -> None:
    judge = DetectorPenalty(build_detector(tiny, "likelihood", threshold=0.5))  # Whisper base judges tiny.en
    audio = torch.from_numpy(hello)[None].clone().requires_grad_(True)
    penalty, _ = judge(_batch(audio, [TARGET]))
    judged = base.loss(audio, [TARGET])
    assert float(penalty[0].detach()) == pytest.approx(float(judged[0].detach()), rel=1e-4)
    (grad_penalty,) = torch.autograd.grad(penalty.sum(), audio)
    (grad_judge,) = torch.autograd.grad(base.loss(audio, [TARGET]).sum(), audio)
    assert float(grad_judge.abs().sum()) > 0
    assert torch.allclose(grad_penalty, grad_judge, rtol=1e-3, atol=1e-6)


def test_loop_adds_the_weighted_penalty_to_the_objective(tiny, base, hello: np.ndarray) -> None:
    judge = DetectorPenalty(build_detector(tiny, "likelihood", threshold=0.5))
    config = AttackConfig(max_steps=1, init_noise=0.0, detector_weight=2.0)  # step 1 sees the clean audio
    (result,) = Attack(tiny, config, penalty=judge).run([hello], TargetText(TARGET))
    audio = torch.from_numpy(hello)[None]
    with torch.no_grad():
        expected = float(tiny.loss(audio, [TARGET])[0] + 2.0 * base.loss(audio, [TARGET])[0])
    assert result.loss_curve[0] == pytest.approx(expected, rel=1e-4)


def test_adaptive_attack_raises_the_judge_score_over_the_plain_attack(tiny, hello: np.ndarray) -> None:
    config = AttackConfig(max_steps=8, learning_rate=60.0, seed=0)
    judge = build_detector(tiny, "likelihood", threshold=0.5)
    plain = Attack(tiny, config).run([hello], TargetText(TARGET))[0]
    adaptive = Attack(tiny, config, kind="adaptive-judge", penalty=DetectorPenalty(judge)).run([hello], TargetText(TARGET))[0]
    assert adaptive.kind == "adaptive-judge" and adaptive.config["detector_term"] == "likelihood-base"
    padded, lengths, _ = pad_batch([plain.adversarial, adaptive.adversarial])
    with torch.no_grad():
        scores = judge.torch_score(padded, [TARGET, TARGET], lengths).double().numpy()
    assert scores[1] > scores[0]
    # success is never claimed without the detector term passing on the 16-bit audio
    assert not adaptive.success or scores[1] >= judge.threshold


def test_adaptive_attack_raises_the_paper_xcorr_score(tiny, pico, hello: np.ndarray) -> None:
    config = AttackConfig(max_steps=6, learning_rate=60.0, seed=0, detector_weight=5.0)
    target = "good morning"
    xcorr = DetectorPenalty(build_detector(tiny, "xcorr-template"))
    before = CorrelationComparator().score(hello, pico.synthesize(target)).score
    result = Attack(tiny, config, penalty=xcorr).run([hello], TargetText(target))[0]
    after = CorrelationComparator().score(result.adversarial, pico.synthesize(target)).score
    assert after > before


def passes(detector, batch: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> list[bool]:
    with torch.no_grad():
        return detector.penalty(batch, labels, lengths)[1].tolist()


def test_all_of_detector_passes_only_when_every_member_passes(tiny, hello: np.ndarray) -> None:
    judge = build_detector(tiny, "likelihood-tiny.en", threshold=0.3)
    dtw = build_detector(tiny, "dtw", threshold=0.8)
    both = AllOfDetector([judge, dtw])
    assert both.score_name == "likelihood-tiny.en+dtw" and both.threshold == 1.0
    labels = ["Hello world.", "hello word", "good morning"]
    batch = torch.from_numpy(hello)[None].repeat(len(labels), 1)
    lengths = [hello.size] * len(labels)
    # judge (exp(-CE) about 0.60 / 0.02 / 0.001) and DTW (1.00 / 0.84 / 0.40): only the first passes both
    assert passes(judge, batch, labels, lengths) == [True, False, False]
    assert passes(dtw, batch, labels, lengths) == [True, True, False]
    penalty, both_pass = both.penalty(batch, labels, lengths)
    assert both_pass.tolist() == [True, False, False]
    with torch.no_grad():
        members = judge.penalty(batch, labels, lengths)[0] + dtw.penalty(batch, labels, lengths)[0]
        ratios = torch.minimum(judge.torch_score(batch, labels, lengths) / 0.3, dtw.torch_score(batch, labels, lengths) / 0.8)
        score = both.torch_score(batch, labels, lengths)
    assert torch.allclose(penalty.detach(), members, rtol=1e-5)
    assert torch.allclose(score, ratios, rtol=1e-6) and (score.numpy() >= 1.0).tolist() == both_pass.tolist()
    hook = DetectorPenalty(both)
    assert hook.accepts([hello] * len(labels), labels).tolist() == both_pass.tolist()
    # the loop's per-step mask: decodes the target AND passes every member (exp(-penalty) would say 0.6 < 1);
    # at step 1 with no initial noise the loop sees the clean audio, so a success there is that mask
    decodes = np.asarray(tiny.loss_and_success(batch, labels)[1], dtype=bool)
    results = Attack(tiny, AttackConfig(max_steps=1, init_noise=0.0), penalty=hook).run([hello] * 3, TargetText(labels))
    assert decodes[0] and [r.first_success_step == 1 for r in results] == (decodes & both_pass).tolist()


def test_adaptive_attack_runs_with_an_all_of_detector(tiny, hello: np.ndarray) -> None:
    both = AllOfDetector([build_detector(tiny, "likelihood-tiny.en", threshold=0.3), build_detector(tiny, "dtw", threshold=0.8)])
    attack = Attack(tiny, AttackConfig(max_steps=3, learning_rate=60.0, seed=0), penalty=DetectorPenalty(both))
    (result,) = attack.run([hello], TargetText("good morning"))
    assert result.kind == "targeted" and result.config["detector_threshold"] == 1.0
    assert result.config["detector_term"] == "likelihood-tiny.en+dtw"
    assert len(result.loss_curve) == 3 and all(np.isfinite(result.loss_curve))
    members = [passes(m, torch.from_numpy(result.adversarial)[None], ["good morning"]) for m in both.members]
    assert result.success == (normalize_text(result.transcript) == "good morning" and all(p[0] for p in members))


def test_a_non_differentiable_detector_is_refused_early(tiny) -> None:
    for name in ("paper", "seed-corrcoef"):
        with pytest.raises(BadInputError, match="needs a differentiable detector"):
            DetectorPenalty(build_detector(tiny, name))
