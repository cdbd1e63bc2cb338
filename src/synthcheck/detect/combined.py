"""Several detectors at once: a transcript passes only if every member finds it consistent.

An adaptive attacker who knows one detector can optimise against it (``attacks.adaptive``); making him satisfy
two *different* views of consistency at once — an independent recogniser's likelihood of the transcript and the
transcript's re-synthesis matched in a speaker-normalised feature domain, say — costs him more perturbation.

Score (documented range [0, ∞), consistent at or above 1 by default):

    score = min over members k of  score_k / threshold_k

so ``score >= 1`` exactly when every member passes at its own calibrated threshold; a threshold above 1 is
stricter on every member alike. Each member keeps its calibrated threshold (5 % false positives on clean human
speech), so the union's false-positive rate is at most the sum of the members' — measure it, do not assume it.

When every member is differentiable so is the union: its torch score is the same ``min_k score_k / threshold_k``,
its penalty the sum of the members' penalties and its decision the AND of theirs (each at its own threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np

from synthcheck.detect.detector import Detector, PendingVerdict, Verdict
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    import torch

#: Default threshold of the normalised score: every member at its own threshold.
ALL_OF_THRESHOLD = 1.0


class AllOfDetector(Detector):
    """Consistent only when every member detector is; the recogniser is transcribed once for all of them.

    Parameters
    ----------
    members
        Detectors protecting the same recogniser (their own thresholds are used to normalise their scores).
    threshold
        Threshold of ``min_k score_k / threshold_k`` (default 1: every member at its own threshold).
    name
        Configuration name reported in verdicts.
    """

    def __init__(self, members: Sequence[Detector], threshold: float = ALL_OF_THRESHOLD, *, name: str = "all-of") -> None:
        if len(members) < 2:
            raise BadInputError("an all-of detector needs at least two member detectors")
        if len({m.recognizer.name for m in members}) != 1:
            raise BadInputError("the members of an all-of detector must protect the same recogniser")
        if any(not m.threshold > 0 for m in members):
            raise BadInputError("every member threshold must be positive to normalise its score")
        if not np.isfinite(threshold) or threshold <= 0:
            raise BadInputError(f"threshold must be a positive number, got {threshold}")
        self.members = list(members)
        self.recognizer = members[0].recognizer
        self.threshold = float(threshold)
        self.name = name

    def begin(self, audio: np.ndarray, *, background: bool = True) -> PendingVerdict:
        """Start every member's judging of valid ``audio``; the lowest normalised score decides."""
        return _PendingAllOf(self, [member.begin(audio, background=background) for member in self.members])

    @property
    def score_name(self) -> str:
        """The members' score names joined by ``+`` (e.g. ``likelihood-base+voices-dtw``)."""
        return "+".join(member.score_name for member in self.members)

    @property
    def differentiable(self) -> bool:
        """Whether every member is differentiable."""
        return all(member.differentiable for member in self.members)

    def torch_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """``min_k score_k / threshold_k`` per item, from the members' torch scores."""
        import torch

        self._require_differentiable()
        ratios = [member.torch_score(audio, labels, lengths) / member.threshold for member in self.members]
        return torch.stack(ratios).min(dim=0).values

    def penalty(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The sum of the members' penalties and the AND of their decisions (one forward pass each)."""
        self._require_differentiable()
        penalties, decisions = zip(*(member.penalty(audio, labels, lengths) for member in self.members))
        return sum(penalties), np.logical_and.reduce(decisions)

    def _require_differentiable(self) -> None:
        rigid = [member.name for member in self.members if not member.differentiable]
        if rigid:
            raise BadInputError(
                f"detector {self.name} has no differentiable score: member {', '.join(rigid)} has none; "
                "attack an all-of detector of likelihood, xcorr or dtw detectors"
            )


class _PendingAllOf(PendingVerdict):
    """An :class:`AllOfDetector` verdict under way: every member's, submitted together, collected in order (so a
    background member works while the ones before it compute)."""

    def __init__(self, detector: AllOfDetector, members: list[PendingVerdict]) -> None:
        self.detector, self.members = detector, members
        self.transcript: str | None = None
        self.asr_seconds = 0.0
        self.seconds = 0.0

    @property
    def background(self) -> bool:
        return any(member.background for member in self.members)

    def submit(self, transcript: str, asr_seconds: float = 0.0) -> None:
        start = perf_counter()
        self.transcript, self.asr_seconds = transcript, asr_seconds
        for member in self.members:
            member.submit(transcript)
        self.seconds = perf_counter() - start

    def result(self) -> Verdict:
        if self.transcript is None:
            raise BadInputError("no transcript submitted: call submit before result")
        start = perf_counter()
        detector = self.detector
        verdicts = [member.result() for member in self.members]
        ratios = [v.score / v.threshold for v in verdicts]
        worst = int(np.argmin(ratios))
        timings = {key: sum(v.timings.get(key, 0.0) for v in verdicts) for key in ("tts", "compare")}
        timings = {"asr": self.asr_seconds, **timings, "total": self.asr_seconds + self.seconds + perf_counter() - start}
        members = {
            v.detector: {"score": v.score, "threshold": v.threshold, "consistent": v.consistent,
                         "comparator": v.comparator, "details": v.details}
            for v in verdicts
        }
        rendered = next((v for v in verdicts if v.resynthesized is not None), None)
        return Verdict(
            transcript=self.transcript,
            score=float(ratios[worst]),
            threshold=detector.threshold,
            consistent=bool(ratios[worst] >= detector.threshold),
            lag=None,
            recognizer=detector.recognizer.name,
            synthesizer=rendered.synthesizer if rendered else "none",
            comparator="+".join(v.comparator for v in verdicts),
            timings=timings,
            reason=verdicts[worst].reason,
            details={"members": members, "decisive_member": verdicts[worst].detector},
            detector=detector.name,
            resynthesized=rendered.resynthesized if rendered else None,
        )
