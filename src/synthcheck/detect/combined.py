"""Several detectors at once: a transcript passes only if every member finds it consistent.

An adaptive attacker who knows one detector can optimise against it (``attacks.adaptive``); making him satisfy
two *different* views of consistency at once — an independent recogniser's likelihood of the transcript and the
transcript's re-synthesis matched in a speaker-normalised feature domain, say — costs him more perturbation.

Score (documented range [0, ∞), consistent at or above 1 by default):

    score = min over members k of  score_k / threshold_k

so ``score >= 1`` exactly when every member passes at its own calibrated threshold; a threshold above 1 is
stricter on every member alike. Each member keeps its calibrated threshold (5 % false positives on clean human
speech), so the union's false-positive rate is at most the sum of the members' — measure it, do not assume it.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter

import numpy as np

from synthcheck.audio.io import validate_audio
from synthcheck.detect.detector import Detector, Verdict
from synthcheck.errors import BadInputError

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

    def check_transcript(self, audio: np.ndarray, transcript: str, *, asr_seconds: float = 0.0) -> Verdict:
        """Judge ``audio`` against ``transcript`` with every member; the lowest normalised score decides."""
        audio = validate_audio(audio, name="input audio")
        start = perf_counter()
        verdicts = [member.check_transcript(audio, transcript) for member in self.members]
        ratios = [v.score / v.threshold for v in verdicts]
        worst = int(np.argmin(ratios))
        timings = {key: sum(v.timings.get(key, 0.0) for v in verdicts) for key in ("tts", "compare")}
        timings = {"asr": asr_seconds, **timings, "total": asr_seconds + perf_counter() - start}
        members = {
            v.detector: {"score": v.score, "threshold": v.threshold, "consistent": v.consistent,
                         "comparator": v.comparator, "details": v.details}
            for v in verdicts
        }
        rendered = next((v for v in verdicts if v.resynthesized is not None), None)
        return Verdict(
            transcript=transcript,
            score=float(ratios[worst]),
            threshold=self.threshold,
            consistent=bool(ratios[worst] >= self.threshold),
            lag=None,
            recognizer=self.recognizer.name,
            synthesizer=rendered.synthesizer if rendered else "none",
            comparator="+".join(v.comparator for v in verdicts),
            timings=timings,
            reason=verdicts[worst].reason,
            details={"members": members, "decisive_member": verdicts[worst].detector},
            detector=self.name,
            resynthesized=rendered.resynthesized if rendered else None,
        )
