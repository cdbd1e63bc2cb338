"""Attack kinds by name: the non-adaptive attacks and the adaptive ones that know a detector.

One registry serves ``synthcheck reproduce --attacks`` and ``synthcheck evaluate-detectors --stages``:

``targeted``
    :class:`~synthcheck.attacks.TargetedAttack` to a fixed target (the paper's non-adaptive attack).
``small-edit``
    The same attack to a one-word near-homophone edit of the clause (:func:`~.adaptive.small_edit_target`).
``adaptive-likelihood``
    :class:`~.adaptive.AdaptiveTargetedAttack` against the ``likelihood`` detector (the independent judge's
    likelihood), small-edit targets.
``adaptive-xcorr``
    The adaptive attack against ``xcorr-template`` (the template correlation, synthcheck's first reading of
    the paper's check), fixed target.
``adaptive-dtw``
    The adaptive attack against ``voices-dtw`` (8 voices, exact subgradient along the DTW path), fixed target.
``adaptive-combined``
    The adaptive attack against ``likelihood+voices-dtw`` (the judge's likelihood and the 8-voice DTW must both
    pass), small-edit targets (the attacker's best choice against the judge).

Adaptive kinds attack the detectors :func:`synthcheck.detect.configs.build_detector` builds, at their calibrated
thresholds (:data:`synthcheck.detect.DETECTOR_CONFIGS`).
"""

from __future__ import annotations

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.adaptive import AdaptiveAttackConfig, AdaptiveTargetedAttack, small_edit_target
from synthcheck.attacks.base import Attack
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.detect.configs import build_detector
from synthcheck.errors import BadInputError

#: Every attack kind, non-adaptive first.
ATTACK_KINDS = ("targeted", "small-edit", "adaptive-likelihood", "adaptive-xcorr", "adaptive-dtw", "adaptive-combined")
#: Kinds whose target is a one-word edit of the clause rather than the fixed target.
SMALL_EDIT_KINDS = frozenset({"small-edit", "adaptive-likelihood", "adaptive-combined"})
#: For each adaptive kind, the non-adaptive kind with the same targets: its perturbation is the "budget".
REFERENCE_KIND = {"adaptive-likelihood": "small-edit", "adaptive-xcorr": "targeted", "adaptive-dtw": "targeted",
                  "adaptive-combined": "small-edit"}
#: For each adaptive kind, the detector configuration it attacks (a :func:`~synthcheck.detect.configs.build_detector` name).
ATTACKED_DETECTOR = {"adaptive-likelihood": "likelihood", "adaptive-xcorr": "xcorr-template",
                     "adaptive-dtw": "voices-dtw", "adaptive-combined": "likelihood+voices-dtw"}


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
        attack = AdaptiveTargetedAttack(recognizer, build_detector(recognizer, ATTACKED_DETECTOR[kind]), config)
    attack.kind = kind
    return attack

