"""Adaptive attacks: the attacker knows the consistency detector and optimises against it too.

A targeted attack (:class:`~synthcheck.attacks.targeted.TargetedAttack`) only makes the protected recogniser
hear the target. :class:`AdaptiveTargetedAttack` also raises the detector's score *for the target text*, so
the transcript the recogniser emits passes the consistency check:

    loss = CE_attacked(target) + λ · (−log s(y, target))

where ``s`` is the detector's own score in torch (:meth:`~synthcheck.detect.detector.Detector.penalty`; any
built detector whose comparator is differentiable, see :mod:`synthcheck.detect.detector`):

* a likelihood detector — ``s = exp(−CE_judge)`` under the independent judge Whisper, so ``−log s`` is the
  judge's teacher-forced loss (both models are differentiable);
* a template correlation detector (``xcorr-template``) — against the target's fixed TTS rendering (the
  attacker knows the target, so the rendering is a constant signal), by FFT: the max over lags passes its
  gradient to the best lag;
* a DTW detector (``dtw``, ``voices-dtw``) — against the target's renderings by one or several voices (best
  take), differentiable along the optimal DTW path;
* an all-of detector — several detectors at once (the penalties add; the input must pass every member).

An item succeeds when the attacked model would decode the target (teacher-forced mask, as the targeted
attack) AND the detector passes (``s >= threshold``, for an all-of detector every member's); the final
confirmation asks the same of the 16-bit adversarial (greedy decode + the detector's decision).

:func:`small_edit_target` makes the other adaptive choice of target: keep the words, swap one for a
near-homophone ("it was the best of times" → "it was the best of dimes"), which a transcript-level judge
finds far more plausible than a different sentence.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.detect.detector import Detector
from synthcheck.errors import BadInputError

#: Near-homophones / rhymes used by :func:`small_edit_target` (lower-case word → replacement).
SMALL_EDITS: dict[str, str] = {
    "times": "dimes", "age": "cage", "wisdom": "freedom", "foolishness": "foolish mess", "epoch": "epic",
    "belief": "relief", "incredulity": "credulity", "season": "reason", "light": "night", "darkness": "sparkness",
    "spring": "string", "hope": "rope", "winter": "splinter", "despair": "repair", "everything": "anything",
    "nothing": "something", "heaven": "seven", "other": "mother", "way": "day", "short": "sport",
    "period": "pyramid", "present": "pleasant", "noisiest": "nosiest", "authorities": "authors", "insisted": "insisting",
    "received": "relieved", "good": "wood", "evil": "weevil", "superlative": "superlatives", "degree": "decree",
    "comparison": "comparisons", "only": "lonely", "best": "test", "worst": "first", "all": "tall",
    "going": "glowing", "direct": "correct", "were": "where", "was": "is", "we": "he", "had": "have",
}
#: Words never swapped (too short to carry the edit audibly, or function words).
_KEEP = frozenset({"it", "the", "of", "a", "to", "in", "and", "that", "so", "far", "like", "its", "for", "or"})


def small_edit_target(text: str) -> str:
    """``text`` (lower-cased, punctuation dropped) with one word swapped for a near-homophone.

    The last word found in :data:`SMALL_EDITS` is swapped (content words sit late in a clause). Without a
    table word, the last word of four letters or more that is not a function word gets an ``s`` appended
    (or removed).

    Raises
    ------
    BadInputError
        No word could be edited.
    """
    words = re.sub(r"[^a-z' ]+", " ", text.lower()).split()
    for i in reversed(range(len(words))):
        if words[i] in SMALL_EDITS:
            return " ".join([*words[:i], SMALL_EDITS[words[i]], *words[i + 1 :]])
    for i in reversed(range(len(words))):
        word = words[i]
        if len(word) >= 4 and word not in _KEEP:
            edited = word[:-1] if word.endswith("s") else word + "s"
            return " ".join([*words[:i], edited, *words[i + 1 :]])
    raise BadInputError(f"no word of {text!r} can be edited into a near-homophone target; give a longer text")


@dataclass
class AdaptiveAttackConfig(TargetedAttackConfig):
    """Settings of :class:`AdaptiveTargetedAttack`; ``detector_weight`` is λ of the detector penalty."""

    detector_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.detector_weight < 0:
            raise BadInputError(f"detector_weight must be >= 0, got {self.detector_weight}")


class AdaptiveTargetedAttack(TargetedAttack):
    """Targeted attack that also drives the detector's score for the target above its threshold.

    Parameters
    ----------
    recognizer
        The protected (attacked) differentiable recogniser.
    detector
        The detector attacked, e.g. from :func:`synthcheck.detect.configs.build_detector`; it must be
        differentiable (:attr:`~synthcheck.detect.detector.Detector.differentiable`).
    config
        Attack settings; ``detector_weight`` is λ.

    Raises
    ------
    BadInputError
        The detector has no differentiable score (e.g. ``align``: pocketsphinx).
    """

    kind = "adaptive-targeted"

    def __init__(self, recognizer: Recognizer, detector: Detector, config: AdaptiveAttackConfig | None = None) -> None:
        super().__init__(recognizer, config or AdaptiveAttackConfig())
        if not detector.differentiable:
            raise BadInputError(
                f"the adaptive attack needs a differentiable detector; {detector.name} has none: "
                "choose a likelihood, xcorr-template or dtw detector (or an all-of detector of them)"
            )
        self.detector = detector
        self.kind = f"adaptive-{detector.score_name}"
        self._lengths: list[int] | None = None

    def run(self, audios, targets, **kwargs):  # type: ignore[no-untyped-def]
        """As :meth:`~synthcheck.attacks.base.Attack.run`; results' ``config`` also names the detector's score."""
        self._lengths = [int(np.asarray(a).size) for a in audios]
        results = super().run(audios, targets, **kwargs)
        for result in results:
            result.config = {**result.config, "detector_term": self.detector.score_name,
                             "detector_threshold": self.detector.threshold}
        return results

    def detector_scores(self, audios: list[np.ndarray], labels: list[str]) -> np.ndarray:
        """The detector's torch score of each (unpadded) audio for its label, without gradients."""
        if not audios:
            return np.zeros(0)
        batch, lengths = _padded(audios)
        with torch.no_grad():
            return self.detector.torch_score(batch, list(labels), lengths).double().numpy()

    def detector_passes(self, audios: list[np.ndarray], labels: list[str]) -> np.ndarray:
        """Whether the detector accepts each (unpadded) audio as its label (its :meth:`~Detector.penalty` decision)."""
        if not audios:
            return np.zeros(0, dtype=bool)
        batch, lengths = _padded(audios)
        with torch.no_grad():
            return self.detector.penalty(batch, list(labels), lengths)[1]

    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        loss, decodes = self.recognizer.loss_and_success(audio, labels)
        penalty, passes = self.detector.penalty(audio, labels, self._lengths)
        total = loss + self.config.detector_weight * penalty
        if not check:
            return total, None
        return total, np.asarray(decodes, dtype=bool) & passes

    def _confirm(
        self, candidates: list[deque[np.ndarray]], labels: list[str]
    ) -> tuple[list[np.ndarray], list[str], np.ndarray]:
        """Keep only candidates that pass the detector, then confirm by decoding (as the base class)."""
        for queue, label in zip(candidates, labels):
            fallback, kept = queue[0], list(queue)[1:]
            passing = [c for c, ok in zip(kept, self.detector_passes(kept, [label] * len(kept))) if ok]
            queue.clear()
            queue.extend([fallback, *passing])
        chosen, transcripts, confirmed = super()._confirm(candidates, labels)
        return chosen, transcripts, confirmed & self.detector_passes(chosen, labels)


def _padded(audios: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """A zero-padded float32 batch ``[B, T]`` of 1-D audios and their lengths."""
    batch = torch.zeros(len(audios), max(a.size for a in audios))
    for i, a in enumerate(audios):
        batch[i, : a.size] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return batch, [int(a.size) for a in audios]
