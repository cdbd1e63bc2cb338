"""Adversarial attacks on speech recognisers (targeted and untargeted, L∞ on the 16-bit scale) and transfer checks."""

from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.attacks.result import AttackProgress, AttackResult
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.attacks.transfer import TRANSFER_RECOGNIZERS, transfer_check
from synthcheck.attacks.untargeted import UntargetedAttack, UntargetedAttackConfig

__all__ = [
    "TRANSFER_RECOGNIZERS",
    "Attack",
    "AttackConfig",
    "AttackProgress",
    "AttackResult",
    "TargetedAttack",
    "TargetedAttackConfig",
    "UntargetedAttack",
    "UntargetedAttackConfig",
    "transfer_check",
]
