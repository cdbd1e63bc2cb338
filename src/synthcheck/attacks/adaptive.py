"""Adaptive attacks: the attacker knows the consistency detector and optimises against it too.

A targeted attack only makes the protected recogniser hear the target. An adaptive one is the same loop
(:class:`~synthcheck.attacks.base.Attack` with a :class:`~synthcheck.attacks.criteria.TargetText` criterion)
given a :class:`DetectorPenalty`, which also raises the detector's score *for the target text*, so the
transcript the recogniser emits passes the consistency check:

    loss = CE_attacked(target) + λ · (−log s(y, target))

where ``s`` is the detector's own score in torch (:meth:`~synthcheck.detect.detector.Detector.penalty`; any
built detector whose comparator is differentiable, see :mod:`synthcheck.detect.detector`) and λ is
``AttackConfig.detector_weight``:

* a likelihood detector — ``s = exp(−CE_judge)`` under the independent judge Whisper, so ``−log s`` is the
  judge's teacher-forced loss (both models are differentiable);
* a template correlation detector (``xcorr-template``) — against the target's fixed TTS rendering (the
  attacker knows the target, so the rendering is a constant signal), by FFT: the max over lags passes its
  gradient to the best lag;
* a DTW detector (``dtw``, ``voices-dtw``) — against the target's renderings by one or several voices (best
  take), differentiable along the optimal DTW path;
* the alignment judge (``align``) — PocketSphinx's forced-alignment llr recomputed in torch from its model files
  (:mod:`synthcheck.detect.sphinx_torch`, a subgradient along the two best HMM paths), taken a safety margin
  lower because it is an approximation (:data:`~synthcheck.detect.forced_alignment.TORCH_LLR_MARGIN`);
* an all-of detector — several detectors at once (the penalties add; the input must pass every member).

An item succeeds when the attacked model would decode the target (teacher-forced mask) AND the detector passes
(``s >= threshold``, for an all-of detector every member's); the final confirmation keeps only candidates the
real detector accepts (its own verdict, e.g. PocketSphinx itself for ``align``) and asks the same of the 16-bit
adversarial (greedy decode + the detector's decision).

:func:`small_edit_target` makes the other adaptive choice of target: keep the words, swap one for a
near-homophone ("it was the best of times" → "it was the best of dimes"), which a transcript-level judge
finds far more plausible than a different sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from synthcheck.attacks.batch import AttackBatch
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


class DetectorPenalty:
    """The detector an adaptive attack must pass: its ``−log score`` penalty and its decision.

    Parameters
    ----------
    detector
        The detector attacked, e.g. from :func:`synthcheck.detect.configs.build_detector`; it must be
        differentiable (:attr:`~synthcheck.detect.detector.Detector.differentiable`).

    Raises
    ------
    BadInputError
        The detector has no differentiable score (e.g. ``paper``: a random-sample Pearson).
    """

    def __init__(self, detector: Detector) -> None:
        if not detector.differentiable:
            raise BadInputError(
                f"the adaptive attack needs a differentiable detector; {detector.name} has none: "
                "choose a likelihood, xcorr-template or dtw detector (or an all-of detector of them)"
            )
        self.detector = detector

    def __call__(self, batch: AttackBatch) -> tuple[torch.Tensor, np.ndarray]:
        """``(−log score [B], passes [B])`` of the batch judged against its labels (the targets)."""
        return self.detector.penalty(batch.inputs, batch.labels, batch.lengths)

    def accepts(self, inputs: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """Whether the real detector accepts each (unpadded) input as its label: its own verdict
        (:meth:`~synthcheck.detect.detector.Detector.check_transcripts`), not the torch score, which for some
        judges is an approximation (``align``: :mod:`synthcheck.detect.sphinx_torch`)."""
        verdicts = self.detector.check_transcripts([np.asarray(x, dtype=np.float32) for x in inputs], list(labels))
        return np.array([verdict.consistent for verdict in verdicts], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """The detector's score name and threshold (``detector_term``, ``detector_threshold``)."""
        return {"detector_term": self.detector.score_name, "detector_threshold": self.detector.threshold}
