"""Attack criteria: what success is, per item, and the objective the attack minimises to reach it.

As foolbox 3's criteria (``Misclassification``, ``TargetedMisclassification``), a criterion is an object passed
to :meth:`Attack.run <synthcheck.attacks.base.Attack.run>`, not a subclass of the attack; unlike them it also
chooses the objective, since "reach this text" and "leave this text" optimise different losses:

:class:`TargetText`
    Success: the greedy transcript equals the target after :func:`~synthcheck.audio.metrics.normalize_text`.
    Objective: the target's teacher-forced cross-entropy. The per-step success mask comes from the same
    forward pass (``loss_and_success``: greedy decoding would give exactly the target tokens, end-of-text
    included), so no decode runs inside the loop; :attr:`~Criterion.check_every` is 1.
:class:`WordErrorAbove`
    Success: ``word_error_rate(reference, transcript) > threshold`` (untargeted). Objective: maximise the
    reference's cross-entropy. The teacher-forced mask cannot tell how far the decode moved, so the loop checks
    success by a greedy decode of the stored (quantised) candidates every 10 steps by default
    (:attr:`~Criterion.check_every`; a decode costs a few forward passes). References default to the clean
    transcripts.

Every criterion confirms the final candidates by a real greedy decode (:meth:`Criterion.decide`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from synthcheck.asr.base import DifferentiableRecognizer
from synthcheck.attacks.batch import AttackBatch
from synthcheck.audio.metrics import normalize_text, word_error_rate
from synthcheck.errors import BadInputError


class Criterion(ABC):
    """What success is for each item of a batch, and the loss that leads there.

    Parameters
    ----------
    texts
        One text per item, one text for all (a ``str``), or None (only where :meth:`default_texts` exists).
    """

    #: Attack kind results carry when the attack is not a named kind (``"targeted"``, ``"untargeted"``).
    kind: str
    #: Check success every this many steps unless ``AttackConfig.check_every`` is set.
    check_every: int = 1

    def __init__(self, texts: Sequence[str] | str | None) -> None:
        if texts is not None:
            for text in [texts] if isinstance(texts, str) else texts:
                _check_not_empty(text, self.kind)
        self.texts = texts

    def labels(self, recognizer: DifferentiableRecognizer, inputs: list[np.ndarray]) -> list[str]:
        """The stripped text of each input, checked against the decoder's capacity.

        Raises
        ------
        BadInputError
            No texts and no default, a count other than the inputs', or a text longer than the decoder holds.
        """
        texts = self.default_texts(recognizer, inputs) if self.texts is None else self.texts
        if isinstance(texts, str):
            texts = [texts] * len(inputs)
        if len(texts) != len(inputs):
            raise BadInputError(f"{self.kind} attack: got {len(inputs)} utterances but {len(texts)} target texts")
        capacity = int(recognizer.max_target_tokens)
        labels = []
        for text in texts:
            text = _check_not_empty(text, self.kind)
            n_tokens = len(recognizer.tokenize(text))
            if n_tokens > capacity:
                raise BadInputError(
                    f"target is {n_tokens} tokens, longer than the {capacity} the decoder can hold; shorten it"
                )
            labels.append(text)
        return labels

    def default_texts(self, recognizer: DifferentiableRecognizer, inputs: list[np.ndarray]) -> list[str]:
        """Texts when none were given (default: refuse)."""
        raise BadInputError(f"{self.kind} attack: no target text given; give the words to aim for")

    @abstractmethod
    def objective(self, recognizer: DifferentiableRecognizer, batch: AttackBatch) -> tuple[torch.Tensor, np.ndarray | None]:
        """Per-item loss to minimise ``[B]``, and the per-item success mask read from the same forward pass
        (None: success needs a decode, :meth:`decide`)."""

    @abstractmethod
    def is_met(self, transcripts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """Per-item bool: does the decoded transcript meet the goal for its label?"""

    def decide(
        self, recognizer: DifferentiableRecognizer, inputs: Sequence[np.ndarray], labels: Sequence[str]
    ) -> tuple[np.ndarray, list[str]]:
        """Greedy-decode ``inputs`` (one batch) and return whether each meets the goal, and the transcripts."""
        transcripts = recognizer.transcribe_batch(list(inputs))
        return self.is_met(transcripts, labels), transcripts

    def to_dict(self) -> dict[str, Any]:
        """The criterion's settings (stored in results' ``config`` and the checkpoint key)."""
        return {"criterion": type(self).__name__}


class TargetText(Criterion):
    """Targeted: the transcript must equal the target text (after :func:`~synthcheck.audio.metrics.normalize_text`).

    Parameters
    ----------
    targets
        One target per input, or one for all.
    """

    kind = "targeted"

    def __init__(self, targets: Sequence[str] | str) -> None:
        super().__init__(targets)

    def objective(self, recognizer: DifferentiableRecognizer, batch: AttackBatch) -> tuple[torch.Tensor, np.ndarray]:
        """The target's teacher-forced cross-entropy and whether greedy decoding gives the target."""
        loss, success = recognizer.loss_and_success(batch.inputs, batch.labels)
        return loss, np.asarray(success, dtype=bool)

    def is_met(self, transcripts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        return np.array([normalize_text(t) == normalize_text(y) for t, y in zip(transcripts, labels)], dtype=bool)


class WordErrorAbove(Criterion):
    """Untargeted: the transcript's word error rate against the reference must exceed ``threshold``.

    Parameters
    ----------
    references
        One reference per input, one for all, or None: the clean inputs' own transcripts.
    threshold
        Success when ``word_error_rate(reference, transcript) > threshold``.
    """

    kind = "untargeted"
    check_every = 10

    def __init__(self, references: Sequence[str] | str | None = None, threshold: float = 0.5) -> None:
        if not threshold >= 0:  # NaN too
            raise BadInputError(f"wer_threshold must be >= 0, got {threshold}")
        super().__init__(references)
        self.threshold = threshold

    def default_texts(self, recognizer: DifferentiableRecognizer, inputs: list[np.ndarray]) -> list[str]:
        """The clean transcripts serve as references when none are given."""
        return recognizer.transcribe_batch(inputs)

    def objective(self, recognizer: DifferentiableRecognizer, batch: AttackBatch) -> tuple[torch.Tensor, None]:
        """The negative teacher-forced cross-entropy of the reference; success needs a decode."""
        return -recognizer.loss(batch.inputs, batch.labels, reduction="none"), None

    def is_met(self, transcripts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        return np.array([word_error_rate(y, t) > self.threshold for t, y in zip(transcripts, labels)], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "wer_threshold": self.threshold}


def _check_not_empty(text: str, kind: str) -> str:
    """``text`` stripped; a non-string or blank text is a :class:`BadInputError`."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise BadInputError(f"{kind} attack: the target/reference text is empty; give some words")
    return stripped
