"""The consistency detector: transcribe, decompress the transcript to the nearest codeword, compare.

"Decompression to the nearest codeword of the decided label": the synthesiser renders every take of the
transcript (:meth:`~synthcheck.tts.base.Synthesizer.render_takes`: one for a plain TTS voice, voices ×
speeds for :class:`~synthcheck.detect.voice_search.VoiceSearch`), the comparator scores the input against
each, and the best take wins (argmax score = argmin distance over the nuisance parameters). Comparators
that judge the transcript directly (``needs_rendering = False``) skip TTS altogether.

A detector whose comparator is differentiable (:class:`~synthcheck.detect.comparators.DifferentiableComparator`,
:class:`~synthcheck.detect.comparators.DifferentiableTranscriptComparator`) also offers its score in torch for
labels the attacker chooses (:meth:`Detector.torch_score`, :meth:`Detector.penalty`): the same takes, the same
comparator, the best take — what an adaptive attack optimises against.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Iterator, Sequence
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.audio.io import SAMPLE_RATE, validate_audio
from synthcheck.audio.windows import split_at_pauses
from synthcheck.detect.comparators import (
    Comparator,
    Comparison,
    DifferentiableComparator,
    DifferentiableTranscriptComparator,
    PearsonComparator,
    TranscriptJudgement,
)
from synthcheck.errors import BadInputError
from synthcheck.tts.base import Synthesizer, Take
from synthcheck.jsonable import json_safe

if TYPE_CHECKING:
    import torch

#: The paper's threshold for the normalised max cross-correlation.
DEFAULT_THRESHOLD = 0.4


@dataclass
class Verdict:
    """Everything needed to trust a decision: the label, the score, the threshold, the decision, the evidence.

    Attributes
    ----------
    transcript
        What the recogniser heard (or the transcript given to :meth:`ConsistencyDetector.check_transcript`).
    score, threshold, consistent
        ``consistent`` is ``score >= threshold``; inconsistent inputs are possibly adversarial.
    lag
        Best alignment of the input relative to the re-synthesis, in samples (``None`` if not compared).
    recognizer, synthesizer, comparator
        Names of the components that produced the verdict (``synthesizer`` is ``"none"`` when the
        comparator judges the transcript without TTS).
    timings
        Seconds spent in ``asr``, ``tts``, ``compare`` and ``total``.
    reason
        Why the pair was not compared (e.g. the recogniser heard no words); empty otherwise.
    details
        The comparator's extra evidence; after a re-synthesis also the winning take's ``voice`` and
        ``speed`` and the scores of all takes (``take_scores``).
    detector
        Name of the detector configuration (see :mod:`synthcheck.detect.configs`), ``"custom"`` otherwise.
    resynthesized
        The winning take's audio, ``None`` without re-synthesis (not part of :meth:`to_dict`).
    """

    transcript: str
    score: float
    threshold: float
    consistent: bool
    lag: int | None
    recognizer: str
    synthesizer: str
    comparator: str
    timings: dict[str, float]
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    detector: str = "custom"
    resynthesized: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of everything except the re-synthesised audio."""
        return {
            "transcript": self.transcript,
            "score": float(self.score),
            "threshold": float(self.threshold),
            "consistent": bool(self.consistent),
            "lag": None if self.lag is None else int(self.lag),
            "recognizer": self.recognizer,
            "synthesizer": self.synthesizer,
            "comparator": self.comparator,
            "timings": {k: float(v) for k, v in self.timings.items()},
            "reason": self.reason,
            "details": json_safe(self.details),
            "detector": self.detector,
        }


class PendingVerdict(ABC):
    """A verdict under way: begun with the audio (:meth:`Detector.begin`), given the transcript by :meth:`submit`,
    answered by :meth:`result`. Judges whose work can start before the transcript is known, or run beside the
    caller's, do so between the calls (the align judge, in its second process)."""

    @abstractmethod
    def submit(self, transcript: str, asr_seconds: float = 0.0) -> None:
        """Hand over what the recogniser heard (and the seconds it took, for the verdict's timings)."""

    @abstractmethod
    def result(self) -> Verdict:
        """The verdict (waits for background work)."""

    @property
    @abstractmethod
    def background(self) -> bool:
        """Whether part of the judging runs in another process."""


class Detector(ABC):
    """Anything that judges a recording against its transcript: transcribe, then judge (:meth:`begin`).

    Subclasses set ``recognizer``, ``threshold`` and ``name`` and implement :meth:`begin` and the
    differentiable score (:attr:`differentiable`, :meth:`torch_score`, :meth:`penalty`).
    """

    recognizer: Recognizer
    threshold: float
    name: str

    def check(self, audio: np.ndarray) -> Verdict:
        """Transcribe ``audio`` (16 kHz float32) and judge it against its transcript (:meth:`check_batch` of one)."""
        return self.check_batch([audio])[0]

    def check_batch(self, audios: Sequence[np.ndarray]) -> list[Verdict]:
        """:meth:`check` of each recording, the recogniser given every window of every recording in one call.

        Recordings longer than 30 s are judged window by window (cut at pauses, as
        :meth:`~synthcheck.asr.base.Recognizer.transcribe` cuts them), each window against its own transcript;
        the verdict is the least consistent window's, with every window's score in ``details["windows"]``.
        Every window's judging begins before the recogniser runs (beside it in a second process for a single
        recording, see the code) and gets its transcript as soon as the recogniser
        yields it (:meth:`~synthcheck.asr.base.Recognizer.transcribe_each`), so background judges work beside the
        decoding of the rest. A verdict's ``asr`` timing is the wait for its transcript since the previous one
        landed (a decoding batch is charged to its first item).

        Raises
        ------
        BadInputError
            A recording is not usable audio (before anything runs).
        """
        recordings = _checked_recordings(audios)
        windows = [split_at_pauses(audio) for audio in recordings]
        flat = [window for cut in windows for window in cut]
        # One recording: background judges work beside its decoding. Several: the recogniser batches them, which
        # gains more with all of torch's threads than the background judges do with one fewer (./run bench
        # detect, 2 cores, s per s of audio: ten pico2wave clauses batched 0.288 in this process, 0.298 beside
        # the align worker; one by one 0.296 beside it, 0.348 without).
        background = len(recordings) == 1
        pending = [self.begin(window, background=background) for window in flat]
        with torch_beside_background(any(verdict.background for verdict in pending)):
            start = perf_counter()
            for i, transcript in self.recognizer.transcribe_each(flat):  # each judge starts as its transcript lands
                pending[i].submit(transcript, asr_seconds=perf_counter() - start)
                start = perf_counter()
            verdicts = [verdict.result() for verdict in pending]
        results, first = [], 0
        for cut in windows:
            mine, first = verdicts[first : first + len(cut)], first + len(cut)
            starts = np.cumsum([0] + [w.size for w in cut[:-1]])
            results.append(mine[0] if len(mine) == 1 else _least_consistent(mine, [int(s) for s in starts]))
        return results

    def check_transcript(self, audio: np.ndarray, transcript: str, *, asr_seconds: float = 0.0) -> Verdict:
        """Judge ``audio`` (at most 30 s for Whisper judges) against a known ``transcript`` (e.g. the recogniser's
        output stored by an experiment). An empty transcript gives an inconsistent verdict with a ``reason``."""
        return self.check_transcripts([audio], [transcript], asr_seconds=asr_seconds)[0]

    def check_transcripts(self, audios: Sequence[np.ndarray], transcripts: Sequence[str], *,
                          asr_seconds: float = 0.0) -> list[Verdict]:
        """:meth:`check_transcript` of each pair, every judgement begun before the first is collected (so the
        align judge's second process works beside the others; ``asr_seconds`` goes into every verdict's timings).

        Raises
        ------
        BadInputError
            A recording is not usable audio, or the counts differ (before anything runs).
        """
        if len(audios) != len(transcripts):
            raise BadInputError(f"got {len(audios)} recordings but {len(transcripts)} transcripts")
        recordings = _checked_recordings(audios)
        pending = [self.begin(audio) for audio in recordings]
        with torch_beside_background(any(verdict.background for verdict in pending)):
            for verdict, transcript in zip(pending, transcripts, strict=True):
                verdict.submit(transcript, asr_seconds)
            return [verdict.result() for verdict in pending]

    @abstractmethod
    def begin(self, audio: np.ndarray, *, background: bool = True) -> PendingVerdict:
        """Start judging ``audio``, already valid (1-D finite float32 at 16 kHz, as :meth:`check` and
        :meth:`check_transcript` check it; at most 30 s for Whisper judges), before its transcript is known;
        ``background=False`` keeps every judge in this process."""

    @property
    def score_name(self) -> str:
        """The name of this detector's score with aliases resolved (adaptive attacks store it as ``detector_term``)."""
        return self.name

    @property
    @abstractmethod
    def differentiable(self) -> bool:
        """Whether :meth:`torch_score` and :meth:`penalty` exist (an adaptive attack can optimise against them)."""

    @abstractmethod
    def torch_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The verdict's score, per item ``[B]``, of ``audio`` (``[B, T]``; item ``i`` is ``lengths[i]`` samples
        long, the rest zero padding; None: all of the row) judged against its label; differentiable.

        Raises
        ------
        BadInputError
            The detector is not :attr:`differentiable`.
        """

    @abstractmethod
    def penalty(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(penalty [B], passes [B])`` from one forward pass: the differentiable ``−log score`` an attack adds to
        its loss and the detector's per-item decision (arguments as :meth:`torch_score`).

        Raises
        ------
        BadInputError
            The detector is not :attr:`differentiable`.
        """


class ConsistencyDetector(Detector):
    """Flags inputs whose transcript, decompressed back to audio, does not match the input.

    Parameters
    ----------
    recognizer, synthesizer
        The classifier under protection and the "decompression" back to audio; ``synthesizer`` may be
        ``None`` when the comparator judges transcripts (``needs_rendering = False``).
    comparator
        Consistency score (default: the paper's normalised max cross-correlation).
    threshold
        Scores at or above it are consistent (paper: 0.4).
    name
        Configuration name reported in verdicts (:func:`synthcheck.detect.configs.build_detector` sets it).
    """

    def __init__(
        self,
        recognizer: Recognizer,
        synthesizer: Synthesizer | None,
        comparator: Comparator | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        name: str = "custom",
    ) -> None:
        if not math.isfinite(threshold):
            raise BadInputError(f"threshold must be a finite number, got {threshold}")
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.comparator = comparator if comparator is not None else PearsonComparator()
        if synthesizer is None and self.comparator.needs_rendering:
            raise BadInputError(f"comparator {self.comparator.name} compares with a re-synthesis: give a synthesiser")
        self.threshold = float(threshold)
        self.name = name
        self._torch_references: dict[str, list[torch.Tensor]] = {}

    @property
    def synthesizer_id(self) -> str:
        """The synthesiser's id, or ``"none"`` when the comparator needs no rendering."""
        if self.synthesizer is None or not self.comparator.needs_rendering:
            return "none"
        return self.synthesizer.id

    def begin(self, audio: np.ndarray, *, background: bool = True) -> PendingVerdict:
        """Start judging valid ``audio``: a transcript comparator begins its own work (see :meth:`Detector.begin`)."""
        judgement = (None if self.comparator.needs_rendering
                     else self.comparator.begin(audio, background=background))  # type: ignore[attr-defined]
        return _PendingConsistency(self, audio, judgement)

    def _verdict(self, transcript: str, comparison: Comparison | None, take: Take | None,
                 timings: dict[str, float], reason: str) -> Verdict:
        timings["total"] = sum(timings.values())
        return Verdict(
            transcript=transcript,
            score=comparison.score if comparison else 0.0,
            threshold=self.threshold,
            consistent=comparison is not None and comparison.score >= self.threshold,
            lag=comparison.lag if comparison else None,
            recognizer=self.recognizer.name,
            synthesizer=self.synthesizer_id,
            comparator=self.comparator.name,
            timings=timings,
            reason=reason,
            details=comparison.details if comparison else {},
            detector=self.name,
            resynthesized=take.audio if take else None,
        )

    def _render(self, transcript: str, timings: dict[str, float]) -> tuple[list[Take], str]:
        """All takes of the transcript; ``([], reason)`` when it cannot be spoken."""
        assert self.synthesizer is not None  # guaranteed by __init__ for rendering comparators
        start = perf_counter()
        try:
            return self.synthesizer.render_takes(transcript), ""
        except BadInputError as exc:
            return [], f"the transcript cannot be re-synthesised: {exc}"
        finally:
            timings["tts"] = perf_counter() - start

    def _nearest_take(self, audio: np.ndarray, takes: list[Take]) -> tuple[Comparison, Take]:
        """The comparison with the best-scoring take (ties: the first), its details naming the take."""
        comparisons = [self.comparator.score(audio, take.audio) for take in takes]
        best = int(np.argmax([c.score for c in comparisons]))
        details = {
            **comparisons[best].details,
            "voice": takes[best].voice,
            "speed": takes[best].speed,
            "take_scores": [float(c.score) for c in comparisons],
        }
        return Comparison(comparisons[best].score, comparisons[best].lag, details), takes[best]

    @property
    def differentiable(self) -> bool:
        """Whether the comparator offers its score in torch."""
        return isinstance(self.comparator, (DifferentiableComparator, DifferentiableTranscriptComparator))

    def torch_score(self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The comparator's torch score of each item against its label, for a re-synthesis the best take's
        (float32 ``[B]``; computed in float64)."""
        comparator = self._differentiable_comparator()
        if isinstance(comparator, DifferentiableTranscriptComparator):
            return comparator.torch_score(audio, labels, lengths)
        import torch

        scores = [
            comparator.torch_score(audio[i, : (audio.shape[1] if lengths is None else lengths[i])], self._references(label))
            for i, label in enumerate(labels)
        ]
        return torch.stack(scores).float()

    def penalty(
        self, audio: torch.Tensor, labels: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(−log score, score >= threshold)`` per item (a transcript comparator's penalty is its own, e.g. the
        likelihood judge's loss)."""
        comparator = self._differentiable_comparator()
        if isinstance(comparator, DifferentiableTranscriptComparator):
            penalty, score = comparator.torch_penalty(audio, labels, lengths)
            return penalty, score >= self.threshold
        import torch

        score = self.torch_score(audio, labels, lengths)
        return -torch.log(score.clamp_min(1e-6)), score.detach().double().numpy() >= self.threshold

    def _differentiable_comparator(self) -> DifferentiableComparator | DifferentiableTranscriptComparator:
        if not self.differentiable:
            raise BadInputError(
                f"detector {self.name} has no differentiable score (comparator {self.comparator.name}); "
                "attack a likelihood, align, xcorr or dtw detector"
            )
        return self.comparator  # type: ignore[return-value]

    def _references(self, label: str) -> list[torch.Tensor]:
        """The comparator's torch reference of every take of ``label`` (rendered once per label)."""
        if label not in self._torch_references:
            assert self.synthesizer is not None  # guaranteed by __init__ for rendering comparators
            takes = self.synthesizer.render_takes(label)
            comparator = self._differentiable_comparator()
            self._torch_references[label] = [comparator.torch_reference(take.audio) for take in takes]  # type: ignore[union-attr]
        return self._torch_references[label]


@contextlib.contextmanager
def torch_beside_background(active: bool) -> Iterator[None]:
    """While ``active`` (a judge works in another process), torch runs on one intra-op thread fewer, restored
    after: its idle OpenMP threads spin-wait and took the worker's core (measured on 2 cores, the default detector
    on 44 s of speech: 8.51 s with the worker beside 2 torch threads, 7.30 s beside 1, 8.72 s without a worker)."""
    torch = sys.modules.get("torch")  # only a process that loaded torch has threads to lend
    threads = torch.get_num_threads() if active and torch is not None else 1
    if threads > 1:
        torch.set_num_threads(threads - 1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


class _PendingConsistency(PendingVerdict):
    """A :class:`ConsistencyDetector` verdict under way (an empty or unspeakable transcript: score 0, a reason)."""

    def __init__(self, detector: ConsistencyDetector, audio: np.ndarray, judgement: TranscriptJudgement | None) -> None:
        self.detector, self.audio, self.judgement = detector, audio, judgement
        self.transcript: str | None = None
        self.timings: dict[str, float] = {}

    @property
    def background(self) -> bool:
        return self.judgement is not None and self.judgement.background

    def submit(self, transcript: str, asr_seconds: float = 0.0) -> None:
        self.transcript = transcript
        self.timings = {"asr": asr_seconds, "tts": 0.0, "compare": 0.0}
        if self.judgement is not None and transcript.strip():
            start = perf_counter()
            self.judgement.submit(transcript)
            self.timings["compare"] = perf_counter() - start

    def result(self) -> Verdict:
        if self.transcript is None:
            raise BadInputError("no transcript submitted: call submit before result")
        detector, transcript, timings = self.detector, self.transcript, self.timings
        comparison, take, reason = None, None, ""
        if not transcript.strip():
            reason = "the recogniser heard no words"
        elif self.judgement is not None:
            start = perf_counter()
            comparison = self.judgement.result()
            timings["compare"] += perf_counter() - start
        else:
            takes, reason = detector._render(transcript, timings)
            if takes:
                start = perf_counter()
                comparison, take = detector._nearest_take(self.audio, takes)
                timings["compare"] = perf_counter() - start
        return detector._verdict(transcript, comparison, take, timings, reason)


def _checked_recordings(audios: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every recording validated once, at the detector's edge (named by its index when there are several)."""
    return [validate_audio(audio, name="input audio" if len(audios) == 1 else f"input audio {i}")
            for i, audio in enumerate(audios)]


def _least_consistent(verdicts: list[Verdict], starts: list[int]) -> Verdict:
    """One verdict for a windowed recording: the lowest-scoring window decides; transcripts are joined."""
    worst = min(range(len(verdicts)), key=lambda i: verdicts[i].score)
    chosen = verdicts[worst]
    timings = {key: sum(v.timings.get(key, 0.0) for v in verdicts) for key in chosen.timings}
    windows = [
        {"start_s": start / SAMPLE_RATE, "transcript": v.transcript, "score": float(v.score), "consistent": v.consistent}
        for v, start in zip(verdicts, starts, strict=True)
    ]
    return dataclasses.replace(
        chosen,
        transcript=" ".join(v.transcript for v in verdicts if v.transcript),
        lag=None,
        timings=timings,
        details={**chosen.details, "windows": windows, "decisive_window": worst},
    )
