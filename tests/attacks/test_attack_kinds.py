"""Every attack kind builds the attack it documents (term names, thresholds, targets)."""

from __future__ import annotations

import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.attacks.adaptive import AdaptiveAttackConfig, AdaptiveTargetedAttack
from synthcheck.attacks.kinds import ATTACK_KINDS, REFERENCE_KIND, attack_target, build_attack, check_attack_kinds
from synthcheck.attacks.targeted import TargetedAttack
from synthcheck.detect import DETECTOR_CONFIGS, AllOfDetector, ConsistencyDetector
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import VoiceSearch
from synthcheck.errors import BadInputError
from synthcheck.experiments.adaptive_eval import ATTACK_STAGES, FIXED_TARGET

EXPECTED_TERMS = {
    "adaptive-likelihood": "likelihood-base",
    "adaptive-xcorr": "xcorr-template",
    "adaptive-dtw": "voices-dtw",
    "adaptive-combined": "likelihood-base+voices-dtw",
}


@pytest.mark.parametrize("kind", ATTACK_KINDS)
def test_kind_builds_its_attack(kind: str) -> None:
    attack = build_attack(kind, get_recognizer("whisper-tiny.en"), AdaptiveAttackConfig(max_steps=7, detector_weight=2.0))
    assert attack.config.max_steps == 7 and attack.kind == kind
    if kind in ("targeted", "small-edit"):
        assert type(attack) is TargetedAttack and not hasattr(attack.config, "detector_weight")
        return
    assert isinstance(attack, AdaptiveTargetedAttack) and attack.detector.score_name == EXPECTED_TERMS[kind]
    assert attack.config.detector_weight == 2.0
    assert REFERENCE_KIND[kind] in ("targeted", "small-edit")


@pytest.mark.parametrize("kind", ["targeted", "small-edit"])
def test_results_carry_the_requested_kind(kind: str, best) -> None:
    attack = build_attack(kind, get_recognizer("whisper-tiny.en"), AdaptiveAttackConfig(max_steps=2))
    target = attack_target(kind, "it was the best of times", FIXED_TARGET)
    (result,) = attack.run([best], target, seed=0)
    assert result.kind == kind and result.to_dict()["kind"] == kind
    assert result.target == target and result.steps == 2


def test_combined_kind_attacks_both_members_at_their_thresholds() -> None:
    detector = build_attack("adaptive-combined", get_recognizer("whisper-tiny.en"), AdaptiveAttackConfig()).detector
    assert isinstance(detector, AllOfDetector) and detector.threshold == 1.0
    likelihood, dtw = detector.members
    assert likelihood.threshold == DETECTOR_CONFIGS["likelihood-base"].threshold
    assert isinstance(dtw, ConsistencyDetector) and isinstance(dtw.comparator, DtwComparator)
    assert dtw.threshold == DETECTOR_CONFIGS["voices-dtw"].threshold
    assert isinstance(dtw.synthesizer, VoiceSearch) and dtw.synthesizer.speeds == (1.0,)
    assert tuple(s.id for s in dtw.synthesizer.synthesizers) == DETECTOR_CONFIGS["voices-dtw"].voices


def test_targets_small_edits_for_the_judge_kinds_fixed_otherwise() -> None:
    assert attack_target("adaptive-combined", "It was the best of times", FIXED_TARGET) == "it was the best of dimes"
    assert attack_target("adaptive-dtw", "It was the best of times", FIXED_TARGET) == FIXED_TARGET
    assert ATTACK_STAGES == ATTACK_KINDS


def test_unknown_kind_is_one_clear_error() -> None:
    with pytest.raises(BadInputError, match="unknown attack 'gradient-free'; choose from: targeted, small-edit"):
        check_attack_kinds(["targeted", "gradient-free"])
