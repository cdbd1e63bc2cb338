"""The attack kind registry: every kind builds the attack it documents (detector terms, thresholds, targets)."""

from __future__ import annotations

import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.attacks import Attack, AttackConfig, TargetText, WordErrorAbove
from synthcheck.attacks.adaptive import DetectorPenalty
from synthcheck.attacks.kinds import ATTACK_KINDS, TARGET_KINDS, AttackKind
from synthcheck.attacks.noise import RandomNoiseSearch
from synthcheck.detect import DETECTOR_CONFIGS, AllOfDetector, ConsistencyDetector
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.voice_search import VoiceSearch
from synthcheck.errors import BadInputError
from synthcheck.registry import Registry

FIXED_TARGET = "he travels the fastest who travels alone"
CLAUSE = "It was the best of times"
EXPECTED_TERMS = {
    "adaptive-likelihood": "likelihood-base",
    "adaptive-xcorr": "xcorr-template",
    "adaptive-dtw": "voices-dtw",
    "adaptive-combined": "likelihood-base+voices-dtw",
    "adaptive-align": "align",
    "adaptive-likelihood-align": "likelihood-base+align",
    "adaptive-smoothed": "smoothed-likelihood-base+align",
}
SMALL_EDIT = {"small-edit", "adaptive-likelihood", "adaptive-combined", "adaptive-align", "adaptive-likelihood-align",
              "adaptive-smoothed"}


def test_registry_lists_the_kinds_in_order() -> None:
    assert isinstance(ATTACK_KINDS, Registry)
    assert ATTACK_KINDS.names == (
        "targeted", "small-edit", "adaptive-likelihood", "adaptive-xcorr", "adaptive-dtw", "adaptive-combined",
        "adaptive-align", "adaptive-likelihood-align", "adaptive-smoothed", "untargeted", "random-noise",
    )
    assert TARGET_KINDS == ATTACK_KINDS.names[:9]
    assert all(isinstance(kind, AttackKind) and kind.description for kind in ATTACK_KINDS.values())


def test_unknown_kind_is_one_clear_error() -> None:
    with pytest.raises(BadInputError, match="unknown attack 'gradient-free'; choose one of: targeted, small-edit, "):
        ATTACK_KINDS["gradient-free"]


@pytest.mark.parametrize("name", TARGET_KINDS)
def test_every_kind_has_its_target_and_criterion(name: str) -> None:
    kind = ATTACK_KINDS[name]
    target = kind.target(CLAUSE, FIXED_TARGET)
    assert target == ("it was the best of dimes" if name in SMALL_EDIT else FIXED_TARGET)
    assert kind.small_edit == (name in SMALL_EDIT)
    criterion = kind.criterion([target, target])
    assert isinstance(criterion, TargetText) and criterion.texts == [target, target]
    if kind.detector is None:
        assert kind.reference is None
    else:  # the reference kind aims at the same targets without the detector
        reference = ATTACK_KINDS[kind.reference]
        assert reference.detector is None and reference.small_edit == kind.small_edit


@pytest.mark.parametrize("name", ["untargeted", "random-noise"])
def test_change_kinds_aim_at_any_change_of_the_clean_transcript(name: str) -> None:
    kind = ATTACK_KINDS[name]
    assert kind.change and kind.target(CLAUSE, FIXED_TARGET) == ""
    criterion = kind.criterion(["", ""])
    assert isinstance(criterion, WordErrorAbove) and criterion.texts is None and criterion.threshold == 0.0
    built = kind.build(get_recognizer("whisper-tiny.en"), AttackConfig(seed=3))
    assert isinstance(built, RandomNoiseSearch if name == "random-noise" else Attack) and built.kind == name
    assert (name == "random-noise") == kind.random


@pytest.mark.parametrize("name", TARGET_KINDS)
def test_kind_builds_its_attack(name: str) -> None:
    config = AttackConfig(max_steps=7, detector_weight=2.0)
    attack = ATTACK_KINDS[name].build(get_recognizer("whisper-tiny.en"), config)
    assert type(attack) is Attack and attack.config is config and attack.kind == name
    if name in ("targeted", "small-edit"):
        assert attack.penalty is None
        return
    assert isinstance(attack.penalty, DetectorPenalty) and attack.penalty.detector.score_name == EXPECTED_TERMS[name]
    assert attack.penalty.to_dict()["detector_term"] == EXPECTED_TERMS[name]


@pytest.mark.parametrize("name", ["targeted", "small-edit"])
def test_results_carry_the_requested_kind(name: str, best) -> None:
    kind = ATTACK_KINDS[name]
    attack = kind.build(get_recognizer("whisper-tiny.en"), AttackConfig(max_steps=2, seed=0))
    target = kind.target("it was the best of times", FIXED_TARGET)
    (result,) = attack.run([best], kind.criterion([target]))
    assert result.kind == name and result.to_dict()["kind"] == name
    assert result.target == target and result.steps == 2


def test_combined_kind_attacks_both_members_at_their_thresholds() -> None:
    attack = ATTACK_KINDS["adaptive-combined"].build(get_recognizer("whisper-tiny.en"), AttackConfig())
    detector = attack.penalty.detector
    assert isinstance(detector, AllOfDetector) and detector.threshold == 1.0
    likelihood, dtw = detector.members
    assert likelihood.threshold == DETECTOR_CONFIGS["likelihood-base"].threshold
    assert isinstance(dtw, ConsistencyDetector) and isinstance(dtw.comparator, DtwComparator)
    assert dtw.threshold == DETECTOR_CONFIGS["voices-dtw"].threshold
    assert isinstance(dtw.synthesizer, VoiceSearch) and dtw.synthesizer.speeds == (1.0,)
    assert tuple(s.id for s in dtw.synthesizer.synthesizers) == DETECTOR_CONFIGS["voices-dtw"].voices
