"""Attack kinds by name: the non-adaptive attacks and the adaptive ones that know a detector.

One registry (:data:`ATTACK_KINDS`) serves ``synthcheck reproduce --attacks`` and ``synthcheck evaluate-detectors
--stages``. Every kind is a targeted attack (:class:`~synthcheck.attacks.criteria.TargetText`); they differ in
their target and in the detector they know:

``targeted``
    To a fixed target (the paper's non-adaptive attack).
``small-edit``
    To a one-word near-homophone edit of the clause (:func:`~.adaptive.small_edit_target`).
``adaptive-likelihood``
    Against the ``likelihood`` detector (the independent judge's likelihood), small-edit targets.
``adaptive-xcorr``
    Against ``xcorr-template`` (the template correlation, synthcheck's first reading of the paper's check),
    fixed target.
``adaptive-dtw``
    Against ``voices-dtw`` (8 voices, exact subgradient along the DTW path), fixed target.
``adaptive-combined``
    Against ``likelihood+voices-dtw`` (the judge's likelihood and the 8-voice DTW must both pass), small-edit
    targets (the attacker's best choice against the judge).
``adaptive-align``
    Against ``align`` (PocketSphinx's forced alignment, white-box through :mod:`synthcheck.detect.sphinx_torch`),
    small-edit targets.
``adaptive-likelihood-align``
    Against ``likelihood+align``, the default detector of ``synthcheck detect``: both judges at once, small-edit
    targets.

``adaptive-smoothed``
    Against ``smoothed-likelihood+align`` (:mod:`synthcheck.detect.smoothing`: the likelihood judge heard through
    20 dB white noise, and the alignment judge): every step averages the judge over fresh noise draws
    (expectation over transformation), small-edit targets.

Two more kinds measure the paper's hypothesis (random noise is tolerated, adversarial perturbations are not):

``untargeted``
    The smallest white-box perturbation that changes the transcript at all (:class:`~synthcheck.attacks.criteria.
    WordErrorAbove` with threshold 0 against the clean transcript; the bound shrinks on every success).
``random-noise``
    Not an attack: :class:`~synthcheck.attacks.noise.RandomNoiseSearch`, the smallest Gaussian noise that changes
    the transcript (the original code's grid, then bisection).

Adaptive kinds attack the detectors :func:`synthcheck.detect.configs.build_detector` builds, at their calibrated
thresholds (:data:`synthcheck.detect.DETECTOR_CONFIGS`), through a :class:`~.adaptive.DetectorPenalty`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.adaptive import DetectorPenalty, small_edit_target
from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.attacks.noise import RandomNoiseSearch
from synthcheck.attacks.criteria import Criterion, TargetText, WordErrorAbove
from synthcheck.detect.configs import build_detector
from synthcheck.registry import Registry


@dataclass(frozen=True)
class AttackKind:
    """One named attack kind.

    Attributes
    ----------
    name
        Registry name, stored as every result's ``kind``.
    description
        One line for listings.
    small_edit
        Whether the target is the clause's one-word edit (else the fixed target).
    detector
        The :func:`~synthcheck.detect.configs.build_detector` name of the detector attacked (None: non-adaptive).
    reference
        For an adaptive kind, the non-adaptive kind with the same targets: its perturbation is the "budget".
    change
        Success is any change of the clean transcript (no target): ``untargeted`` and ``random-noise``.
    random
        A random-noise search rather than a white-box attack (needs no gradients).
    """

    name: str
    description: str
    small_edit: bool
    detector: str | None = None
    reference: str | None = None
    change: bool = False
    random: bool = False

    def target(self, text: str, fixed_target: str) -> str:
        """The target for a clause ``text``: its small edit, or ``fixed_target`` ("" for kinds that only change
        the transcript: their reference is the clean transcript, found by the criterion)."""
        if self.change:
            return ""
        return small_edit_target(text) if self.small_edit else fixed_target

    def criterion(self, targets: Sequence[str]) -> Criterion:
        """The success criterion for one target per input (change kinds: any word differs from the clean
        transcript, whatever ``targets`` say)."""
        return WordErrorAbove(None, threshold=0.0) if self.change else TargetText(targets)

    def build(self, recognizer: Recognizer, config: AttackConfig) -> Attack | RandomNoiseSearch:
        """The attack against ``recognizer`` (an adaptive kind knows its detector, weighted by
        ``config.detector_weight``), or the random-noise search."""
        if self.random:
            return RandomNoiseSearch(recognizer, config, kind=self.name)
        penalty = None if self.detector is None else DetectorPenalty(build_detector(recognizer, self.detector))
        return Attack(recognizer, config, kind=self.name, penalty=penalty)


#: Every attack kind, non-adaptive first.
ATTACK_KINDS: Registry[AttackKind] = Registry("attack", [
    AttackKind("targeted", "to the fixed target (the paper's non-adaptive attack)", small_edit=False),
    AttackKind("small-edit", "to a one-word near-homophone edit of the clause", small_edit=True),
    AttackKind("adaptive-likelihood", "against the independent judge's likelihood, small-edit targets",
               small_edit=True, detector="likelihood", reference="small-edit"),
    AttackKind("adaptive-xcorr", "against the template correlation (xcorr-template), fixed target",
               small_edit=False, detector="xcorr-template", reference="targeted"),
    AttackKind("adaptive-dtw", "against the 8-voice DTW (voices-dtw), fixed target",
               small_edit=False, detector="voices-dtw", reference="targeted"),
    AttackKind("adaptive-combined", "against the judge's likelihood and the 8-voice DTW at once, small-edit targets",
               small_edit=True, detector="likelihood+voices-dtw", reference="small-edit"),
    AttackKind("adaptive-align", "against pocketsphinx's forced alignment (white-box), small-edit targets",
               small_edit=True, detector="align", reference="small-edit"),
    AttackKind("adaptive-likelihood-align", "against the default detector: the judge's likelihood and pocketsphinx's "
               "alignment at once, small-edit targets", small_edit=True, detector="likelihood+align",
               reference="small-edit"),
    AttackKind("adaptive-smoothed", "against smoothed-likelihood+align (the judge's likelihood through 20 dB noise, "
               "EOT over fresh draws, and pocketsphinx's alignment), small-edit targets", small_edit=True,
               detector="smoothed-likelihood+align", reference="small-edit"),
    AttackKind("untargeted", "the smallest white-box perturbation that changes the transcript", small_edit=False,
               change=True),
    AttackKind("random-noise", "the smallest Gaussian noise that changes the transcript (not an attack)",
               small_edit=False, change=True, random=True),
])
#: The attacks ``evaluate-detectors`` runs by default: every kind that aims at a target.
TARGET_KINDS = tuple(name for name, kind in ATTACK_KINDS.items() if not kind.change)
