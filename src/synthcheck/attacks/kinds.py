"""Attack kinds by name: the non-adaptive attacks and the adaptive ones that know a detector.

One registry serves ``synthcheck reproduce --attacks`` and ``synthcheck evaluate-detectors --stages``:

``targeted``
    :class:`~synthcheck.attacks.TargetedAttack` to a fixed target (the paper's non-adaptive attack).
``small-edit``
    The same attack to a one-word near-homophone edit of the clause (:func:`~.adaptive.small_edit_target`).
``adaptive-likelihood``
    :class:`~.adaptive.AdaptiveTargetedAttack` with the independent judge's :class:`~.adaptive.LikelihoodTerm`,
    small-edit targets.
``adaptive-xcorr``
    The adaptive attack with :class:`~.adaptive.CorrelationTerm` (the template correlation ``xcorr-template``,
    synthcheck's first reading of the paper's check), fixed target.
``adaptive-dtw``
    The adaptive attack with the ``voices-dtw`` detector's :class:`~.adaptive.DtwTerm` (8 voices, exact
    subgradient along the DTW path), fixed target.
``adaptive-combined``
    The adaptive attack against ``likelihood+voices-dtw``: :class:`~.adaptive.AllOfTerm` of the judge's
    likelihood and the 8-voice DTW, small-edit targets (the attacker's best choice against the judge).

Adaptive kinds attack the detector configurations at their calibrated thresholds
(:data:`synthcheck.detect.DETECTOR_CONFIGS`).
"""

from __future__ import annotations

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.adaptive import (
    AdaptiveAttackConfig,
    AdaptiveTargetedAttack,
    AllOfTerm,
    CorrelationTerm,
    DetectorTerm,
    DtwTerm,
    LikelihoodTerm,
    small_edit_target,
)
from synthcheck.attacks.base import Attack
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.errors import BadInputError

#: Every attack kind, non-adaptive first.
ATTACK_KINDS = ("targeted", "small-edit", "adaptive-likelihood", "adaptive-xcorr", "adaptive-dtw", "adaptive-combined")
#: Kinds whose target is a one-word edit of the clause rather than the fixed target.
SMALL_EDIT_KINDS = frozenset({"small-edit", "adaptive-likelihood", "adaptive-combined"})
#: For each adaptive kind, the non-adaptive kind with the same targets: its perturbation is the "budget".
REFERENCE_KIND = {"adaptive-likelihood": "small-edit", "adaptive-xcorr": "targeted", "adaptive-dtw": "targeted",
                  "adaptive-combined": "small-edit"}


def check_attack_kinds(kinds: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`BadInputError` naming the first unknown kind (and the known ones)."""
    unknown = [k for k in kinds if k not in ATTACK_KINDS]
    if unknown:
        raise BadInputError(f"unknown attack {unknown[0]!r}; choose from: {', '.join(ATTACK_KINDS)}")


def attack_target(kind: str, text: str, fixed_target: str) -> str:
    """The target of ``kind`` for a clause ``text``: its small edit, or ``fixed_target``."""
    check_attack_kinds([kind])
    return small_edit_target(text) if kind in SMALL_EDIT_KINDS else fixed_target


def build_attack(kind: str, recognizer: Recognizer, config: AdaptiveAttackConfig) -> Attack:
    """The attack ``kind`` against ``recognizer`` (adaptive kinds know their detector and its threshold).

    ``config`` carries the shared settings (steps, stop dB_x, budget, seed); its ``detector_weight`` (λ)
    applies to the adaptive kinds only. The attack's ``kind`` (stored with its results) is ``kind``.
    """
    check_attack_kinds([kind])
    if kind in ("targeted", "small-edit"):
        plain = {k: v for k, v in vars(config).items() if k != "detector_weight"}
        attack: Attack = TargetedAttack(recognizer, TargetedAttackConfig(**plain))
    else:
        attack = AdaptiveTargetedAttack(recognizer, _detector_term(kind, recognizer), config)
    attack.kind = kind
    return attack


def _detector_term(kind: str, recognizer: Recognizer) -> DetectorTerm:
    from synthcheck.asr.registry import get_recognizer
    from synthcheck.detect.configs import DETECTOR_CONFIGS, PAPER_VOICE, independent_judge, resolve_config_name
    from synthcheck.tts import synthesizer_from_id

    if kind == "adaptive-xcorr":
        return CorrelationTerm(synthesizer_from_id(PAPER_VOICE), DETECTOR_CONFIGS["xcorr-template"].threshold)
    voices_dtw = DETECTOR_CONFIGS["voices-dtw"]
    dtw = DtwTerm(voices_dtw.threshold, voices_dtw.voices)
    if kind == "adaptive-dtw":
        return dtw
    judge = get_recognizer(f"whisper-{independent_judge(recognizer.name)}")
    likelihood = LikelihoodTerm(judge, DETECTOR_CONFIGS[resolve_config_name("likelihood", recognizer.name)].threshold)
    return likelihood if kind == "adaptive-likelihood" else AllOfTerm([likelihood, dtw])
