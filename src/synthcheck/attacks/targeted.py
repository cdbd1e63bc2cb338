"""Targeted attack: make Whisper transcribe a chosen phrase (Carlini & Wagner, L∞ on the 16-bit scale).

Objective: the teacher-forced cross-entropy of the target tokens (``recognizer.loss``). Success at a step is
read from the same forward pass (``recognizer.loss_and_success``: greedy decoding would produce exactly the
target tokens, end-of-text included), so no decode runs inside the loop. The final greedy decode of the 16-bit
adversarial confirms it: transcript and target must match after :func:`~synthcheck.audio.metrics.normalize_text`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.audio.metrics import normalize_text


@dataclass
class TargetedAttackConfig(AttackConfig):
    """Settings of :class:`TargetedAttack` (see :class:`~synthcheck.attacks.base.AttackConfig`)."""


class TargetedAttack(Attack):
    """Minimise the teacher-forced loss of a target phrase under a shrinking L∞ bound."""

    kind = "targeted"

    def __init__(self, recognizer, config: TargetedAttackConfig | None = None) -> None:
        super().__init__(recognizer, config or TargetedAttackConfig())

    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        loss, success = self.recognizer.loss_and_success(audio, labels)
        return loss, (np.asarray(success, dtype=bool) if check else None)

    def _criterion(self, transcripts: list[str], labels: list[str]) -> np.ndarray:
        return np.array([normalize_text(t) == normalize_text(y) for t, y in zip(transcripts, labels)], dtype=bool)
