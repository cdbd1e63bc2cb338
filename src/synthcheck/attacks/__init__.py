"""White-box attacks on speech recognisers (one loop for every criterion, L∞ on the 16-bit scale) and transfer checks."""

from synthcheck.attacks.audio_domain import AudioDomain
from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.attacks.batch import AttackBatch, pad_batch
from synthcheck.attacks.criteria import Criterion, TargetText, WordErrorAbove
from synthcheck.attacks.result import AttackProgress, AttackResult
from synthcheck.attacks.transfer import TRANSFER_RECOGNIZERS, transfer_check

__all__ = [
    "TRANSFER_RECOGNIZERS",
    "Attack",
    "AttackBatch",
    "AttackConfig",
    "AttackProgress",
    "AttackResult",
    "AudioDomain",
    "Criterion",
    "TargetText",
    "WordErrorAbove",
    "pad_batch",
    "transfer_check",
]
