"""Adaptive attacks: the attacker knows the consistency detector and optimises against it too.

A targeted attack (:class:`~synthcheck.attacks.targeted.TargetedAttack`) only makes the protected recogniser
hear the target. :class:`AdaptiveTargetedAttack` also raises the detector's score *for the target text*, so
the transcript the recogniser emits passes the consistency check:

    loss = CE_attacked(target) + λ · (−log s(y, target))

where ``s`` is a differentiable twin of the detector's score (a :class:`DetectorTerm`):

* :class:`LikelihoodTerm` — the likelihood detector's own score, ``s = exp(−CE_judge)`` under the independent
  judge Whisper, so ``−log s`` is the judge's teacher-forced loss (both models are differentiable);
* :class:`CorrelationTerm` — the paper's normalised max cross-correlation with the centre template of the
  target's fixed TTS rendering (the attacker knows the target, so the rendering is a constant signal),
  computed in torch by FFT: the max over lags passes its gradient to the best lag.

An item succeeds when the attacked model would decode the target (teacher-forced mask, as the targeted
attack) AND ``s >= threshold``; the final confirmation asks the same of the 16-bit adversarial (greedy
decode + the term's score, which equals the detector's comparator score).

:func:`small_edit_target` makes the other adaptive choice of target: keep the words, swap one for a
near-homophone ("it was the best of times" → "it was the best of dimes"), which a transcript-level judge
finds far more plausible than a different sentence.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.errors import BadInputError
from synthcheck.tts.base import Synthesizer

log = logging.getLogger(__name__)

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


class DetectorTerm(ABC):
    """A differentiable twin of a detector's consistency score for the attack's target text."""

    #: Short name stored with results ("likelihood-base", "xcorr-paper").
    name: str = "term"

    def __init__(self, threshold: float) -> None:
        if not math.isfinite(threshold) or threshold <= 0:
            raise BadInputError(f"detector threshold must be a positive number, got {threshold}")
        self.threshold = float(threshold)

    @abstractmethod
    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """Per-item score ``[B]`` in [0, 1] of ``audio`` (``[B, T]``; item ``i`` is ``lengths[i]`` samples long,
        the rest zero padding; None: all of the row) against its label; differentiable."""

    def neg_log_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``−log score`` per item (the term added to the attack loss)."""
        return -torch.log(self.score(audio, labels, lengths).clamp_min(1e-6))


class LikelihoodTerm(DetectorTerm):
    """The likelihood detector's score ``exp(−CE_judge(target))`` under an independent Whisper judge.

    Parameters
    ----------
    judge
        The judging differentiable recogniser (e.g. Whisper base when tiny.en is attacked).
    threshold
        The likelihood detector's threshold (score at or above it passes).
    """

    def __init__(self, judge: Recognizer, threshold: float) -> None:
        super().__init__(threshold)
        if not getattr(judge, "differentiable", False):
            raise BadInputError(f"the likelihood judge {judge.name!r} must be a differentiable Whisper model")
        self.judge = judge
        self.name = f"likelihood-{judge.name.removeprefix('whisper-')}"

    def neg_log_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The judge's teacher-forced cross-entropy of each label (exactly ``−log score``; Whisper zero-pads anyway)."""
        return self.judge.loss(audio, labels, reduction="none")

    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``exp(−CE_judge)`` per item."""
        return torch.exp(-self.neg_log_score(audio, labels, lengths))


class CorrelationTerm(DetectorTerm):
    """The paper's score: normalised max cross-correlation of the target rendering's centre template.

    Matches :class:`~synthcheck.detect.comparators.CorrelationComparator` (``mode="paper"``, centre template)
    for inputs at least as long as the template; padding beyond an item's length is excluded from the lags.

    Parameters
    ----------
    synthesizer
        The detector's TTS voice; each label is rendered once and kept.
    threshold
        The correlation detector's threshold.
    template_fraction
        Template length as a fraction of the rendering (the paper: 0.1).
    """

    name = "xcorr-paper"

    def __init__(self, synthesizer: Synthesizer, threshold: float, template_fraction: float = 0.1) -> None:
        super().__init__(threshold)
        if not 0.0 < template_fraction <= 1.0:
            raise BadInputError(f"template_fraction must be in (0, 1], got {template_fraction}")
        self.synthesizer = synthesizer
        self.template_fraction = template_fraction
        self._templates: dict[str, torch.Tensor] = {}

    def template(self, label: str) -> torch.Tensor:
        """The centre slice of ``label``'s rendering (float64), as the paper's comparator cuts it."""
        if label not in self._templates:
            rendering = np.asarray(self.synthesizer.synthesize(label), dtype=np.float64)
            length = max(1, int(round(self.template_fraction * rendering.size)))
            start = (rendering.size - length) // 2
            self._templates[label] = torch.from_numpy(rendering[start : start + length].copy())
        return self._templates[label]

    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """Max over valid lags of ``|<t, y_k>| / (‖t‖ ‖y_k‖)`` per item (FFT correlation, float64)."""
        y_all = audio.double()
        scores = []
        for i, label in enumerate(labels):
            t = self.template(label)
            y = y_all[i, : (y_all.shape[1] if lengths is None else lengths[i])]
            if t.numel() > y.numel():
                raise BadInputError(f"item {i}: the input is shorter than the {t.numel()}-sample template; lengthen it")
            n_lags = y.numel() - t.numel() + 1
            n_fft = 1 << int(math.ceil(math.log2(y.numel())))
            numerator = torch.fft.irfft(torch.fft.rfft(y, n_fft) * torch.fft.rfft(t, n_fft).conj(), n_fft)[:n_lags]
            prefix = torch.cat([y.new_zeros(1), torch.cumsum(y.square(), 0)])
            window = (prefix[t.numel() :] - prefix[:n_lags]).clamp_min(1e-12)
            rho = numerator.abs() / (t.norm() * window.sqrt())
            scores.append(rho.max().clamp(max=1.0))
        return torch.stack(scores).float()


@dataclass
class AdaptiveAttackConfig(TargetedAttackConfig):
    """Settings of :class:`AdaptiveTargetedAttack`; ``detector_weight`` is λ of the detector term."""

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
    term
        The detector's differentiable score (:class:`LikelihoodTerm`, :class:`CorrelationTerm`).
    config
        Attack settings; ``detector_weight`` is λ.
    """

    kind = "adaptive-targeted"

    def __init__(self, recognizer: Recognizer, term: DetectorTerm, config: AdaptiveAttackConfig | None = None) -> None:
        super().__init__(recognizer, config or AdaptiveAttackConfig())
        self.term = term
        self.kind = f"adaptive-{term.name}"
        self._lengths: list[int] | None = None

    def run(self, audios, targets, **kwargs):  # type: ignore[no-untyped-def]
        """As :meth:`~synthcheck.attacks.base.Attack.run`; results' ``config`` also names the detector term."""
        self._lengths = [int(np.asarray(a).size) for a in audios]
        results = super().run(audios, targets, **kwargs)
        for result in results:
            result.config = {**result.config, "detector_term": self.term.name, "detector_threshold": self.term.threshold}
        return results

    def detector_scores(self, audios: list[np.ndarray], labels: list[str]) -> np.ndarray:
        """The term's score of each (unpadded) audio for its label, without gradients."""
        if not audios:
            return np.zeros(0)
        batch = torch.zeros(len(audios), max(a.size for a in audios))
        for i, a in enumerate(audios):
            batch[i, : a.size] = torch.from_numpy(np.asarray(a, dtype=np.float32))
        with torch.no_grad():
            return self.term.score(batch, list(labels), [a.size for a in audios]).double().numpy()

    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        loss, decodes = self.recognizer.loss_and_success(audio, labels)
        penalty = self.term.neg_log_score(audio, labels, self._lengths)
        total = loss + self.config.detector_weight * penalty
        if not check:
            return total, None
        passes = torch.exp(-penalty.detach()).numpy() >= self.term.threshold
        return total, np.asarray(decodes, dtype=bool) & passes

    def _confirm(
        self, candidates: list[deque[np.ndarray]], labels: list[str]
    ) -> tuple[list[np.ndarray], list[str], np.ndarray]:
        """Keep only candidates that pass the detector term, then confirm by decoding (as the base class)."""
        for queue, label in zip(candidates, labels):
            fallback, kept = queue[0], list(queue)[1:]
            passing = [c for c, s in zip(kept, self.detector_scores(kept, [label] * len(kept))) if s >= self.term.threshold]
            queue.clear()
            queue.extend([fallback, *passing])
        chosen, transcripts, confirmed = super()._confirm(candidates, labels)
        passes = self.detector_scores(chosen, labels) >= self.term.threshold
        return chosen, transcripts, confirmed & passes
