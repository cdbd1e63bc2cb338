"""The smoothed judge (detect/smoothing.py): a real judge averaged over noise draws, reproducible at check time,
fresh draws for the EOT attacker, on real clauses and the real Whisper tiny.en."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.asr.registry import get_recognizer
from synthcheck.data.datasets import load_dataset
from synthcheck.detect.configs import build_detector
from synthcheck.detect.registry import get_comparator
from synthcheck.detect.smoothing import SmoothedComparator
from synthcheck.errors import BadInputError


@pytest.fixture(scope="module")
def clause():
    return load_dataset("two-cities-human")[1]


@pytest.fixture(scope="module")
def smoothed() -> SmoothedComparator:
    return SmoothedComparator("likelihood-tiny.en", snr_db=20.0, draws=3, seed=0)


def test_check_noise_is_reproducible_at_the_stated_snr(smoothed, clause) -> None:
    noise = smoothed.check_noise(clause.audio, clause.text)
    assert noise.shape == (3, len(clause.audio)) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, smoothed.check_noise(clause.audio, clause.text))
    rms = np.sqrt(np.mean(clause.audio.astype(np.float64) ** 2))
    for draw in noise:
        assert 20 * np.log10(rms / np.sqrt(np.mean(draw.astype(np.float64) ** 2))) == pytest.approx(20.0, abs=0.2)  # sampling: ~0.03 dB per draw
    assert not np.array_equal(noise[0], noise[1])
    nudged = clause.audio.copy()
    nudged[0] += 1e-4  # any change of the input: other draws
    assert not np.allclose(smoothed.check_noise(nudged, clause.text), noise)
    assert not np.allclose(SmoothedComparator("likelihood-tiny.en", draws=3, seed=1).check_noise(clause.audio, clause.text),
                           noise)


def test_score_is_the_mean_of_the_judge_on_the_noisy_copies(smoothed, clause) -> None:
    verdict = smoothed.score_transcript(clause.audio, clause.text)
    inner = get_comparator("likelihood-tiny.en")
    expected = [inner.score_transcript(clause.audio + n, clause.text).score
                for n in smoothed.check_noise(clause.audio, clause.text)]
    assert verdict.details["draw_scores"] == pytest.approx(expected, rel=1e-6)
    assert verdict.score == pytest.approx(np.mean(expected), rel=1e-6)
    assert verdict.score == smoothed.score_transcript(clause.audio, clause.text).score  # same input, same verdict
    clean = inner.score_transcript(clause.audio, clause.text).score
    wrong = smoothed.score_transcript(clause.audio, "he travels the fastest who travels alone").score
    assert wrong < 0.1 * verdict.score and 0.3 * clean < verdict.score <= 1.0  # noise lowers, does not erase


def test_torch_penalty_averages_fresh_draws_and_has_gradients(clause) -> None:
    smoothed = SmoothedComparator("likelihood-tiny.en", snr_db=20.0, draws=2, seed=0)
    short = clause.audio[: len(clause.audio) // 2]
    audio = torch.zeros(2, len(clause.audio))
    audio[0] = torch.from_numpy(clause.audio)
    audio[1, : len(short)] = torch.from_numpy(short)
    lengths = [len(clause.audio), len(short)]
    noise = smoothed._draw(audio, lengths)
    assert noise.shape == (2, 2, len(clause.audio)) and torch.all(noise[:, 1, len(short):] == 0)  # none on padding
    x = audio.clone().requires_grad_(True)
    penalty, score = smoothed.torch_penalty(x, [clause.text, clause.text], lengths)
    penalty.sum().backward()
    assert penalty.shape == (2,) and score.shape == (2,) and np.all((score > 0) & (score <= 1))
    assert np.allclose(np.exp(-penalty.detach().numpy()), score, rtol=0.3)  # mean of exp vs exp of mean
    assert torch.isfinite(x.grad).all() and x.grad[0].abs().sum() > 0
    again, _ = smoothed.torch_penalty(audio, [clause.text, clause.text], lengths)
    assert not torch.allclose(again, penalty.detach())  # the attacker sees new draws every step (EOT)


def test_the_smoothed_default_is_an_all_of_detector_an_attack_can_target(clause) -> None:
    detector = build_detector(get_recognizer("whisper-tiny.en"), "smoothed-likelihood+align")
    assert detector.differentiable and [m.name for m in detector.members] == ["smoothed-likelihood-base", "align"]
    verdict = detector.check_transcript(clause.audio, clause.text)
    assert verdict.consistent, verdict  # a clean human clause passes at the calibrated thresholds


@pytest.mark.parametrize(("inner", "options", "fragment"), [
    ("xcorr-paper", {}, "differentiable transcript comparator"),
    ("nope", {}, "unknown comparator 'nope'"),
    ("likelihood-tiny.en", {"draws": 0}, "at least one noise draw"),
    ("likelihood-tiny.en", {"snr_db": float("nan")}, "finite"),
])
def test_bad_settings_are_one_clear_error(inner, options, fragment) -> None:
    with pytest.raises(BadInputError, match=fragment) as info:
        SmoothedComparator(inner, **options)
    assert "\n" not in str(info.value)
