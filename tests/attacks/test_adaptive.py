"""Adaptive attacks (attacks/adaptive.py) with the real Whisper tiny.en (attacked) and base (judge), real pico2wave.

The detectors' torch scores themselves are checked against their verdicts in tests/detect/test_torch_scores.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.asr import get_recognizer
from synthcheck.attacks.adaptive import AdaptiveAttackConfig, AdaptiveTargetedAttack, small_edit_target
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.audio.metrics import normalize_text
from synthcheck.detect import AllOfDetector, build_detector
from synthcheck.detect.comparators import CorrelationComparator
from synthcheck.errors import BadInputError
from synthcheck.experiments.adaptive_eval import Clip, _load_results, _save_results, estimate_theorem13
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


def test_joint_loss_adds_the_judge_term_with_gradients_through_both_models(tiny, base, hello: np.ndarray) -> None:
    judge = build_detector(tiny, "likelihood", threshold=0.5)  # Whisper base judges tiny.en
    attack = AdaptiveTargetedAttack(tiny, judge, AdaptiveAttackConfig(detector_weight=2.0))
    audio = torch.from_numpy(hello)[None].clone().requires_grad_(True)
    total, _ = attack._objective(audio, [TARGET], check=False)
    attacked = tiny.loss(audio, [TARGET])
    judged = base.loss(audio, [TARGET])
    assert float(total[0].detach()) == pytest.approx(float((attacked[0] + 2.0 * judged[0]).detach()), rel=1e-4)
    (grad_total,) = torch.autograd.grad(total.sum(), audio)
    (grad_attacked,) = torch.autograd.grad(tiny.loss(audio, [TARGET]).sum(), audio)
    (grad_judge,) = torch.autograd.grad(base.loss(audio, [TARGET]).sum(), audio)
    assert float(grad_judge.abs().sum()) > 0
    assert torch.allclose(grad_total, grad_attacked + 2.0 * grad_judge, rtol=1e-3, atol=1e-6)


def test_adaptive_attack_raises_the_judge_score_over_the_plain_attack(tiny, base, hello: np.ndarray) -> None:
    settings = dict(max_steps=8, learning_rate=60.0, seed=0)
    judge = build_detector(tiny, "likelihood", threshold=0.5)
    plain = TargetedAttack(tiny, TargetedAttackConfig(**settings)).run([hello], TARGET)[0]
    adaptive_attack = AdaptiveTargetedAttack(tiny, judge, AdaptiveAttackConfig(**settings))
    adaptive = adaptive_attack.run([hello], TARGET)[0]
    assert adaptive.kind == "adaptive-likelihood-base" and adaptive.config["detector_term"] == "likelihood-base"
    scores = adaptive_attack.detector_scores([plain.adversarial, adaptive.adversarial], [TARGET, TARGET])
    assert scores[1] > scores[0]
    # success is never claimed without the detector term passing on the 16-bit audio
    assert not adaptive.success or scores[1] >= judge.threshold


def test_adaptive_attack_raises_the_paper_xcorr_score(tiny, pico, hello: np.ndarray) -> None:
    settings = dict(max_steps=6, learning_rate=60.0, seed=0)
    target = "good morning"
    xcorr = build_detector(tiny, "xcorr-template")
    before = CorrelationComparator().score(hello, pico.synthesize(target)).score
    result = AdaptiveTargetedAttack(tiny, xcorr, AdaptiveAttackConfig(**settings, detector_weight=5.0)).run([hello], target)[0]
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
    # the attack's per-step mask: decodes the target AND passes every member (exp(-penalty) would say 0.6 < 1)
    attack = AdaptiveTargetedAttack(tiny, both)
    attack._lengths = lengths
    _, mask = attack._objective(batch, labels, check=True)
    decodes = np.asarray(tiny.loss_and_success(batch, labels)[1], dtype=bool)
    assert decodes[0] and mask.tolist() == (decodes & both_pass).tolist()


def test_adaptive_attack_runs_with_an_all_of_detector(tiny, hello: np.ndarray) -> None:
    both = AllOfDetector([build_detector(tiny, "likelihood-tiny.en", threshold=0.3), build_detector(tiny, "dtw", threshold=0.8)])
    attack = AdaptiveTargetedAttack(tiny, both, AdaptiveAttackConfig(max_steps=3, learning_rate=60.0, seed=0))
    (result,) = attack.run([hello], "good morning")
    assert result.kind == "adaptive-likelihood-tiny.en+dtw" and result.config["detector_threshold"] == 1.0
    assert result.config["detector_term"] == "likelihood-tiny.en+dtw"
    assert len(result.loss_curve) == 3 and all(np.isfinite(result.loss_curve))
    members = [passes(m, torch.from_numpy(result.adversarial)[None], ["good morning"]) for m in both.members]
    assert result.success == (normalize_text(result.transcript) == "good morning" and all(p[0] for p in members))


def test_a_non_differentiable_detector_is_refused_early(tiny) -> None:
    for name in ("align", "likelihood+align"):
        with pytest.raises(BadInputError, match="needs a differentiable detector"):
            AdaptiveTargetedAttack(tiny, build_detector(tiny, name))


def test_theorem_bound_is_positive_when_the_clean_codeword_is_exact(pico) -> None:
    audio = pico.synthesize("hello world")
    clip = Clip("tts", "hello", "hello world", audio, "hello world")
    bound = estimate_theorem13([clip], ["good morning"], [clip], voices=("pico2wave:en-US",))["tts"]
    assert bound["radius"] < 1e-3 * np.linalg.norm(audio)  # the clip is its own rendering
    row = bound["items"][0]
    assert row["bound"] == pytest.approx(row["distance"] - bound["radius"])
    assert row["bound"] > 0 and row["bound_snr_db"] is not None and row["bound_snr_db"] > 0


def test_stage_results_round_trip_through_the_cache(tiny, hello: np.ndarray, tmp_path) -> None:
    result = TargetedAttack(tiny, TargetedAttackConfig(max_steps=1, seed=0)).run([hello], TARGET)[0]
    _save_results(tmp_path / "stage.npz", [result])
    (loaded,) = _load_results(tmp_path / "stage.npz")
    assert np.array_equal(loaded.adversarial, result.adversarial) and np.array_equal(loaded.original, result.original)
    assert (loaded.success, loaded.transcript, loaded.db_x, loaded.steps) == (
        result.success, result.transcript, result.db_x, result.steps)
