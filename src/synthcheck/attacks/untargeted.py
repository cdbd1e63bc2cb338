"""Untargeted attack: make Whisper's transcript differ from a reference (word error rate above a threshold).

Objective: maximise the teacher-forced cross-entropy of the reference tokens (minimise its negative), under the
same shrinking L∞ bound as the targeted attack. The teacher-forced mask cannot tell how far the decode moves
(one changed token already breaks it), so success is checked by a real greedy decode of the 16-bit-rounded
audio every ``check_every`` steps (default 10: a decode costs a few forward passes) and counts when
``word_error_rate(reference, transcript) > wer_threshold``. The final confirmation uses the same criterion.
If no reference is given, the clean audio's own transcript is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.audio.io import quantize_16bit
from synthcheck.audio.metrics import word_error_rate
from synthcheck.errors import BadInputError


@dataclass
class UntargetedAttackConfig(AttackConfig):
    """Settings of :class:`UntargetedAttack`; ``wer_threshold``: success when WER(reference, decode) exceeds it."""

    check_every: int = 10
    wer_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.wer_threshold < 0:
            raise BadInputError(f"wer_threshold must be >= 0, got {self.wer_threshold}")


class UntargetedAttack(Attack):
    """Maximise the teacher-forced loss of the reference transcript under a shrinking L∞ bound."""

    kind = "untargeted"

    def __init__(self, recognizer, config: UntargetedAttackConfig | None = None) -> None:
        super().__init__(recognizer, config or UntargetedAttackConfig())

    def _default_labels(self, audios: list[np.ndarray]) -> list[str]:
        """The clean transcripts serve as references when none are given."""
        return self.recognizer.transcribe_batch(audios)

    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        loss = -self.recognizer.loss(audio, labels, reduction="none")
        if not check:
            return loss, None
        # Decode what would be saved: the 16-bit rounding of the current audio (padding stays zero).
        rounded = [quantize_16bit(a) for a in audio.detach().numpy()]
        return loss, self._criterion(self.recognizer.transcribe_batch(rounded), labels)

    def _criterion(self, transcripts: list[str], labels: list[str]) -> np.ndarray:
        threshold = self.config.wer_threshold
        return np.array([word_error_rate(y, t) > threshold for t, y in zip(transcripts, labels)], dtype=bool)
