"""Adaptive attacks: the attacker knows the consistency detector and optimises against it too.

A targeted attack (:class:`~synthcheck.attacks.targeted.TargetedAttack`) only makes the protected recogniser
hear the target. :class:`AdaptiveTargetedAttack` also raises the detector's score *for the target text*, so
the transcript the recogniser emits passes the consistency check:

    loss = CE_attacked(target) + λ · (−log s(y, target))

where ``s`` is a differentiable twin of the detector's score (a :class:`DetectorTerm`):

* :class:`LikelihoodTerm` — the likelihood detector's own score, ``s = exp(−CE_judge)`` under the independent
  judge Whisper, so ``−log s`` is the judge's teacher-forced loss (both models are differentiable);
* :class:`CorrelationTerm` — the template correlation ``xcorr-template`` (centre slice of the
  target's fixed TTS rendering; the attacker knows the target, so the rendering is a constant signal),
  computed in torch by FFT: the max over lags passes its gradient to the best lag;
* :class:`DtwTerm` — the DTW detector's score against the target's renderings by one or several voices
  (best take), differentiable along the optimal DTW path;
* :class:`AllOfTerm` — several detectors at once (the input must pass every one).

An item succeeds when the attacked model would decode the target (teacher-forced mask, as the targeted
attack) AND the term passes (:meth:`DetectorTerm.passes`: ``s >= threshold``, for :class:`AllOfTerm` every
member's); the final confirmation asks the same of the 16-bit adversarial (greedy decode + the term's
decision, from scores equal to the detectors' comparator scores).

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.asr.base import Recognizer, require_differentiable
from synthcheck.attacks.targeted import TargetedAttack, TargetedAttackConfig
from synthcheck.detect.configs import PAPER_VOICE
from synthcheck.detect.dtw_comparator import DEFAULT_BAND, DtwComparator, cosine_cost_matrix, dtw_path
from synthcheck.detect.features import speech_features, speech_features_torch
from synthcheck.detect.voice_search import DEFAULT_VOICES, VoiceSearch
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
    """A differentiable twin of a detector's consistency score for the attack's target text.

    :meth:`evaluate` gives, from one forward pass, the penalty the attack adds to its loss and the
    detector's decision; :meth:`passes` is that decision alone. Subclasses implement :meth:`score` and
    override :meth:`evaluate` when the penalty or the decision is not simply ``−log score`` / ``score >= threshold``.
    """

    #: Short name stored with results ("likelihood-base", "xcorr-template").
    name: str = "term"

    def __init__(self, threshold: float) -> None:
        if not math.isfinite(threshold) or threshold <= 0:
            raise BadInputError(f"detector threshold must be a positive number, got {threshold}")
        self.threshold = float(threshold)

    @abstractmethod
    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """Per-item score ``[B]`` of ``audio`` (``[B, T]``; item ``i`` is ``lengths[i]`` samples long,
        the rest zero padding; None: all of the row) against its label; differentiable."""

    def evaluate(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(−log score [B], passes [B])``: the differentiable penalty and the detector's per-item decision."""
        score = self.score(audio, labels, lengths)
        return -torch.log(score.clamp_min(1e-6)), score.detach().double().numpy() >= self.threshold

    def neg_log_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``−log score`` per item (the term added to the attack loss)."""
        return self.evaluate(audio, labels, lengths)[0]

    def passes(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> np.ndarray:
        """Per-item bool: would the detector accept ``audio`` as its label? (No gradients.)"""
        with torch.no_grad():
            return self.evaluate(audio, labels, lengths)[1]


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
        self.judge = require_differentiable(judge, "the likelihood judge")
        self.name = f"likelihood-{judge.name.removeprefix('whisper-')}"

    def evaluate(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The judge's teacher-forced cross-entropy of each label (exactly ``−log score``; Whisper zero-pads
        anyway) and ``exp(−CE) >= threshold``, from one forward pass of the judge."""
        loss = self.judge.loss(audio, labels, reduction="none")
        return loss, torch.exp(-loss.detach().double()).numpy() >= self.threshold

    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``exp(−CE_judge)`` per item."""
        return torch.exp(-self.neg_log_score(audio, labels, lengths))


class CorrelationTerm(DetectorTerm):
    """The template correlation ``xcorr-template``: normalised max cross-correlation of the rendering's centre slice.

    Matches :class:`~synthcheck.detect.comparators.CorrelationComparator` (``mode="template"``, centre template)
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

    name = "xcorr-template"

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


class DtwTerm(DetectorTerm):
    """The DTW detector's score: :class:`~synthcheck.detect.dtw_comparator.DtwComparator` against the best take.

    Each item's audio (its ``lengths[i]`` samples) is compared with the renderings of its label by every
    voice (one take per voice at speed 1, as the ``dtw`` and ``voices-dtw`` detectors render) and the
    best-scoring take counts, as the detector's nearest take does.

    Not an approximation (no soft-DTW): the value equals the comparator's score and the gradient is an
    exact subgradient of it. The DTW cost is a minimum over alignment paths of sums that are linear in the
    frame-cost matrix, so its gradient is that of the optimal path, found on the detached costs
    (:func:`~synthcheck.detect.dtw_comparator.dtw_path`); the score ``clamp(1 − Σ w·cost[path] / (n + m), 0, 1)``
    is then built from the torch cost matrix, whose features
    (:func:`~synthcheck.detect.features.speech_features_torch`) pass the gradient to the waveform. The
    discrete choices (path, best take, silence-trimming bounds) are constant between their switch points.

    Parameters
    ----------
    threshold
        The DTW detector's threshold (``dtw``: 0.305, ``voices-dtw``: 0.362).
    voices
        ``engine:voice`` ids rendering the label (default the paper's pico2wave en-US; ``voices-dtw``
        uses :data:`~synthcheck.detect.voice_search.DEFAULT_VOICES`). Voices that cannot render a label are
        skipped, as in the detector's voice search.
    band
        Sakoe–Chiba half-width of the comparator.
    """

    def __init__(self, threshold: float, voices: Sequence[str] = (PAPER_VOICE,), band: float = DEFAULT_BAND) -> None:
        super().__init__(threshold)
        self.comparator = DtwComparator(band)
        self.voices = tuple(voices)
        self.renderer = VoiceSearch(self.voices, speeds=(1.0,))
        if len(self.voices) == 1:
            self.name = "dtw-mfcc"
        else:
            self.name = "voices-dtw" if self.voices == DEFAULT_VOICES else f"voices{len(self.voices)}-dtw"
        self._takes: dict[str, list[torch.Tensor]] = {}

    def take_features(self, label: str) -> list[torch.Tensor]:
        """Speech features of each voice's rendering of ``label`` (computed once per label and voice)."""
        if label not in self._takes:
            takes = self.renderer.render_takes(label)
            self._takes[label] = [torch.from_numpy(speech_features(take.audio)) for take in takes]
        return self._takes[label]

    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The comparator's score against the best take, per item (float32 ``[B]``; computed in float64)."""
        scores = []
        for i, label in enumerate(labels):
            observed = speech_features_torch(audio[i, : (audio.shape[1] if lengths is None else lengths[i])])
            scores.append(torch.stack([self._path_score(observed, take) for take in self.take_features(label)]).max())
        return torch.stack(scores).float()

    def _path_score(self, observed: torch.Tensor, take: torch.Tensor) -> torch.Tensor:
        cost = cosine_cost_matrix(observed, take)
        path = dtw_path(cost.detach().numpy(), self.comparator.band)
        total = (torch.from_numpy(path.weights) * cost[path.rows, path.cols]).sum()
        return (1.0 - total / (len(observed) + len(take))).clamp(0.0, 1.0)


class AllOfTerm(DetectorTerm):
    """Several detectors at once: an input passes only if it passes every member.

    The penalty is the sum of the members' ``−log score``; :meth:`score` is ``min_k score_k / threshold_k``
    (at least 1 exactly when every member passes), so the combined threshold is 1.

    Parameters
    ----------
    members
        The member terms (at least one), each with its own threshold.
    """

    def __init__(self, members: Sequence[DetectorTerm]) -> None:
        super().__init__(1.0)
        if not members:
            raise BadInputError("AllOfTerm needs at least one detector term")
        self.members = tuple(members)
        self.name = "+".join(member.name for member in self.members)

    def score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``min_k score_k / threshold_k`` per item."""
        ratios = [member.score(audio, labels, lengths) / member.threshold for member in self.members]
        return torch.stack(ratios).min(dim=0).values

    def evaluate(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The sum of the members' penalties and the AND of their decisions (one forward pass each)."""
        penalties, decisions = zip(*(member.evaluate(audio, labels, lengths) for member in self.members))
        return sum(penalties), np.logical_and.reduce(decisions)


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
        The detector's differentiable score (:class:`LikelihoodTerm`, :class:`CorrelationTerm`,
        :class:`DtwTerm`, :class:`AllOfTerm`).
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
        batch, lengths = _padded(audios)
        with torch.no_grad():
            return self.term.score(batch, list(labels), lengths).double().numpy()

    def detector_passes(self, audios: list[np.ndarray], labels: list[str]) -> np.ndarray:
        """Whether the detector (the term's :meth:`~DetectorTerm.passes`) accepts each (unpadded) audio as its label."""
        if not audios:
            return np.zeros(0, dtype=bool)
        batch, lengths = _padded(audios)
        return self.term.passes(batch, list(labels), lengths)

    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        loss, decodes = self.recognizer.loss_and_success(audio, labels)
        penalty, passes = self.term.evaluate(audio, labels, self._lengths)
        total = loss + self.config.detector_weight * penalty
        if not check:
            return total, None
        return total, np.asarray(decodes, dtype=bool) & passes

    def _confirm(
        self, candidates: list[deque[np.ndarray]], labels: list[str]
    ) -> tuple[list[np.ndarray], list[str], np.ndarray]:
        """Keep only candidates that pass the detector term, then confirm by decoding (as the base class)."""
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
