"""Every attack stage of evaluate-detectors builds the attack it documents (term names, thresholds, targets)."""

from __future__ import annotations

import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.attacks.adaptive import AdaptiveTargetedAttack, AllOfTerm, DtwTerm
from synthcheck.attacks.targeted import TargetedAttack
from synthcheck.detect import DETECTOR_CONFIGS
from synthcheck.experiments.adaptive_eval import (
    FIXED_TARGET,
    REFERENCE_STAGE,
    STAGES,
    AdaptiveEvalSettings,
    Clip,
    build_attack,
    stage_targets,
)

EXPECTED_TERMS = {
    "adaptive-likelihood": "likelihood-base",
    "adaptive-xcorr": "xcorr-paper",
    "adaptive-dtw": "voices-dtw",
    "adaptive-combined": "likelihood-base+voices-dtw",
}


@pytest.mark.parametrize("stage", STAGES)
def test_stage_builds_its_attack(stage: str) -> None:
    attack = build_attack(stage, get_recognizer("whisper-tiny.en"), AdaptiveEvalSettings(steps=7))
    assert attack.config.max_steps == 7
    if stage in ("targeted", "small-edit"):
        assert type(attack) is TargetedAttack
        return
    assert isinstance(attack, AdaptiveTargetedAttack) and attack.term.name == EXPECTED_TERMS[stage]
    assert stage in REFERENCE_STAGE and REFERENCE_STAGE[stage] in STAGES


def test_combined_stage_attacks_both_members_at_their_thresholds() -> None:
    term = build_attack("adaptive-combined", get_recognizer("whisper-tiny.en"), AdaptiveEvalSettings()).term
    assert isinstance(term, AllOfTerm) and term.threshold == 1.0
    likelihood, dtw = term.members
    assert likelihood.threshold == DETECTOR_CONFIGS["likelihood-base"].threshold
    assert isinstance(dtw, DtwTerm) and dtw.threshold == DETECTOR_CONFIGS["voices-dtw"].threshold
    assert dtw.voices == DETECTOR_CONFIGS["voices-dtw"].voices


def test_targets_small_edits_for_the_judge_stages_fixed_otherwise() -> None:
    clip = Clip("two-cities-human", "k", "it was the best of times", None, "it was the best of times")  # type: ignore[arg-type]
    assert stage_targets("adaptive-combined", [clip]) == ["it was the best of dimes"]
    assert stage_targets("adaptive-dtw", [clip]) == [FIXED_TARGET]
