"""Leave-one-speaker-out (LOSO) calibration of detector thresholds on clean human speech.

The named detectors' thresholds (:data:`~synthcheck.detect.configs.DETECTOR_CONFIGS`) were calibrated *in sample*
for a 5 % false-positive rate on the clean human clips, most of them read by one LibriVox reader. This module
asks how those thresholds fare on a voice they were not calibrated on.

Protocol (``synthcheck calibrate-speakers``, ``docs/human-speech.md``):

* the pool: every utterance of every recorded (non-synthetic) set of :data:`~synthcheck.data.datasets.DATASETS`,
  grouped by its ``speaker`` label (optionally merged: ``beckett`` may be the LibriVox reader, see
  :mod:`synthcheck.data.moonshine`);
* each clip is transcribed by the protected recogniser (default ``whisper-base``, the default of
  ``synthcheck detect``) one clip at a time, as ``synthcheck detect`` does; the clean negatives are the clips it
  transcribes exactly (:attr:`~synthcheck.experiments.detector_evaluation.EvalRecord.correctly_transcribed`),
  judged against that transcript; the others are excluded and counted per speaker;
* every clean negative is scored once by every member detector (an all-of detector's members, or the detector
  itself) through :meth:`~synthcheck.detect.detector.Detector.check_transcript`; all folds reuse these scores;
* fold for speaker *s*: the threshold is calibrated (:func:`~synthcheck.detect.calibration.calibrate_threshold`)
  on the clean scores of the *other* speakers only, and the held-out FPR is measured on *s*'s clean scores, with
  its Wilson 95 % interval (:func:`~synthcheck.detect.calibration.wilson_interval`); beside it the FPR of the
  configured (shipped) threshold on the same clips;
* pooled LOSO FPR: every fold's held-out decisions together (each clip judged by the threshold of its own fold);
* an all-of detector (``likelihood+align``) is reported twice: :data:`MEMBERS` calibrates every member at the
  target and keeps the union at 1.0 (what the shipped default does: its FPR can reach the sum of the members'),
  :data:`NORMALISED` calibrates the normalised score ``min_k score_k / threshold_k`` (members at their LOSO
  thresholds) so that the union itself aims at the target.

A Wilson upper bound above the target means the clips cannot *certify* the target:
:attr:`SpeakerCalibration.clips_needed` is the number of clean clips a speaker needs, with no false positive at
all, for the bound to reach it (73 at 5 %).

Nothing in the protocol draws random numbers today (recorded clips do not pass the channel, Whisper decodes
greedily, the likelihood and alignment scores are deterministic); the seed drives
:func:`~synthcheck.experiments.detector_evaluation.evaluation_audio` like every evaluation and is stored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from synthcheck.data.datasets import DATASETS, Utterance
from synthcheck.detect.calibration import calibrate_threshold, wilson_interval
from synthcheck.detect.combined import ALL_OF_THRESHOLD
from synthcheck.detect.configs import DETECTOR_CONFIGS, DetectorConfig, resolve_config_name
from synthcheck.errors import BadInputError
from synthcheck.experiments.detector_evaluation import EvalRecord, evaluation_audio, score_items
from synthcheck.experiments.metrics import CALIBRATION_FPR
from synthcheck.guard.core import DEFAULT_GUARD_ASR
from synthcheck.jsonable import json_safe

log = logging.getLogger(__name__)

#: The protected recogniser by default: the default of ``synthcheck detect``.
DEFAULT_RECOGNIZER = DEFAULT_GUARD_ASR
#: Detectors calibrated by default (``likelihood`` is the judge independent of the recogniser).
DEFAULT_DETECTORS = ("likelihood", "align", "likelihood+align")

#: How a detector's decision is calibrated (:attr:`DetectorCalibration.variant`).
Variant = Literal["single", "members", "normalised"]
#: One detector: its own score's threshold.
SINGLE: Variant = "single"
#: All-of: each member's threshold calibrated at the target, the union at 1.0 (the shipped rule).
MEMBERS: Variant = "members"
#: All-of: ``min_k score_k / threshold_k`` (members at their calibrated thresholds) calibrated at the target.
NORMALISED: Variant = "normalised"

#: ``progress(source, stage, done, total)``: ``stage`` is ``"transcribe"`` (source: the recogniser) or
#: ``"score"`` (source: the member detector).
Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class SpeakerCalibrationSettings:
    """What one LOSO calibration measures; stored with the result.

    Attributes
    ----------
    recognizer
        Registry name of the protected recogniser (its transcripts are the clean decisions).
    detectors
        Names from :data:`~synthcheck.detect.configs.DETECTOR_NAMES` (``"likelihood"``: the independent judge).
    target_fpr
        False-positive rate the thresholds are calibrated for, in [0, 1).
    merge
        ``(speaker, into)`` pairs: the recorded speaker ``speaker`` is grouped with ``into`` (both must be labels
        of the pool; a label merged away cannot receive others).
    seed
        Seed of :func:`~synthcheck.experiments.detector_evaluation.evaluation_audio` (no draw for recorded sets).
    datasets
        Recorded sets forming the pool; empty: every non-synthetic set of the registry, in registry order.

    Raises
    ------
    BadInputError
        Unknown recogniser, detector or dataset, a synthetic dataset, a target outside [0, 1), a malformed merge.
    """

    recognizer: str = DEFAULT_RECOGNIZER
    detectors: tuple[str, ...] = DEFAULT_DETECTORS
    target_fpr: float = CALIBRATION_FPR
    merge: tuple[tuple[str, str], ...] = ()
    seed: int = 0
    datasets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from synthcheck.asr.registry import RECOGNIZER_CONFIGS

        RECOGNIZER_CONFIGS[self.recognizer]  # BadInputError listing the recognisers
        if not self.detectors:
            raise BadInputError("no detector given; name at least one, e.g. likelihood")
        if len(set(self.detectors)) != len(self.detectors):
            raise BadInputError(f"detectors named twice: {', '.join(self.detectors)}")
        for name in self.detectors:
            _member_configs(name, self.recognizer)  # BadInputError for unknown names
        if not (isinstance(self.target_fpr, (int, float)) and 0.0 <= self.target_fpr < 1.0):
            raise BadInputError(f"target false-positive rate must be in [0, 1), got {self.target_fpr}")
        for name in self.datasets:
            if DATASETS[name].synthetic:  # BadInputError for unknown names
                raise BadInputError(f"dataset {name} is synthetic (TTS); the pool is clean human speech: "
                                    f"{', '.join(recorded_datasets())}")
        sources = [s for s, _ in self.merge]
        if len(set(sources)) != len(sources):
            raise BadInputError(f"--merge: a speaker is merged twice: {', '.join(sources)}")
        for speaker, into in self.merge:
            if speaker == into:
                raise BadInputError(f"--merge: {speaker}={into} merges a speaker into itself")
            if into in sources:
                raise BadInputError(f"--merge: {into} is merged away itself; merge {speaker} into its group directly")

    @property
    def pool_datasets(self) -> tuple[str, ...]:
        """The datasets of the pool (:attr:`datasets`, or every recorded set)."""
        return self.datasets or recorded_datasets()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return json_safe(asdict(self))


@dataclass(frozen=True)
class Rate:
    """A false-positive rate ``flagged / n`` with its Wilson 95 % interval (NaN when ``n`` is 0)."""

    flagged: int
    n: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, flagged: int, n: int) -> Rate:
        """The rate of ``flagged`` clips among ``n``."""
        if n == 0:
            return cls(0, 0, math.nan, math.nan, math.nan)
        low, high = wilson_interval(flagged, n)
        return cls(flagged, n, flagged / n, low, high)

    def certifies(self, target: float) -> bool:
        """Whether the Wilson upper bound is at most ``target`` (False without clips)."""
        return self.n > 0 and self.high <= target


@dataclass(frozen=True)
class CalibrationClip:
    """One utterance of the pool: what the recogniser heard and, when it heard it exactly, the member scores.

    Attributes
    ----------
    key
        ``<dataset>/<utterance key>``.
    recorded_speaker
        The utterance's own ``speaker`` label (before any merge).
    correct
        Transcribed exactly (normalised WER 0): a clean negative.
    scores
        One score per :attr:`SpeakerCalibration.members` (empty when not ``correct``).
    """

    key: str
    dataset: str
    recorded_speaker: str
    text: str
    transcript: str
    seconds: float
    correct: bool
    scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class SpeakerGroup:
    """One held-out group: a speaker label (after merging) and its clips.

    Attributes
    ----------
    speaker
        The group's label.
    recorded
        The recorded speaker labels grouped under it (more than one after a merge).
    n_clips, n_clean
        All its utterances, and those transcribed exactly (its clean negatives).
    excluded
        Keys of the utterances the recogniser got wrong (left out of calibration and measurement).
    """

    speaker: str
    recorded: tuple[str, ...]
    datasets: tuple[str, ...]
    n_clips: int
    n_clean: int
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class Fold:
    """One held-out speaker of one detector.

    Attributes
    ----------
    speaker
        The held-out group (:attr:`SpeakerGroup.speaker`).
    n_calibration
        Clean clips of the other speakers the thresholds were calibrated on.
    threshold
        Threshold applied to the detector's decision score: the score itself (:data:`SINGLE`), or the normalised
        ``min_k score_k / threshold_k`` (:data:`MEMBERS`: 1.0; :data:`NORMALISED`: calibrated).
    member_thresholds
        All-of: each member's threshold calibrated on the other speakers (empty for :data:`SINGLE`).
    held_out, shipped
        FPR on the held-out speaker's clean clips at this fold's thresholds, and at the configured ones.
    flagged, shipped_flagged
        Keys of the held-out clips flagged at this fold's thresholds, and at the configured ones.
    certified
        Whether ``held_out``'s Wilson upper bound is at most the target (never with fewer than
        :attr:`SpeakerCalibration.clips_needed` clips).
    """

    speaker: str
    n_calibration: int
    threshold: float
    member_thresholds: tuple[float, ...]
    held_out: Rate
    shipped: Rate
    flagged: tuple[str, ...]
    shipped_flagged: tuple[str, ...]
    certified: bool


@dataclass(frozen=True)
class DetectorCalibration:
    """LOSO calibration of one detector (one variant of an all-of detector).

    Attributes
    ----------
    detector, config
        The name asked for and the configuration it resolves to (``likelihood`` → ``likelihood-tiny.en``).
    variant
        :data:`SINGLE`, :data:`MEMBERS` or :data:`NORMALISED`.
    members
        Member configurations whose scores decide (the detector itself for :data:`SINGLE`).
    shipped_threshold, shipped_member_thresholds
        The configured thresholds (all-of: the union's on the normalised score, and each member's).
    in_sample_threshold, in_sample_member_thresholds, in_sample
        Calibrated on every speaker's clean clips at once, and the (in-sample) FPR there.
    folds
        One per speaker group, in pool order.
    held_out
        Pooled LOSO FPR: every clip judged by the thresholds of the fold holding out its speaker.
    shipped
        Pooled FPR of the configured thresholds on the same clips.
    certified
        Whether the pooled held-out Wilson upper bound is at most the target.
    """

    detector: str
    config: str
    variant: Variant
    members: tuple[str, ...]
    shipped_threshold: float
    shipped_member_thresholds: tuple[float, ...]
    in_sample_threshold: float
    in_sample_member_thresholds: tuple[float, ...]
    in_sample: Rate
    folds: tuple[Fold, ...]
    held_out: Rate
    shipped: Rate
    certified: bool


@dataclass(frozen=True)
class SpeakerCalibration:
    """Everything one LOSO calibration measured (:func:`run_speaker_calibration`).

    Attributes
    ----------
    settings
        What was asked.
    members
        Member configurations scored once per clean clip (the order of :attr:`CalibrationClip.scores`).
    clips, speakers
        The pool, and its speaker groups in pool order.
    detectors
        One :class:`DetectorCalibration` per detector (two per all-of detector: :data:`MEMBERS`, :data:`NORMALISED`).
    clips_needed
        Fewest clean clips of one speaker, none flagged, whose Wilson upper bound reaches the target (None at a
        target of 0: no sample certifies that).
    versions
        Python, platform, CPU and package versions (:func:`~synthcheck.experiments.pipeline.software_versions`).
    """

    settings: SpeakerCalibrationSettings
    members: tuple[str, ...]
    clips: tuple[CalibrationClip, ...]
    speakers: tuple[SpeakerGroup, ...]
    detectors: tuple[DetectorCalibration, ...]
    clips_needed: int | None
    versions: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN as ``None``)."""
        return json_safe(asdict(self))


def recorded_datasets() -> tuple[str, ...]:
    """Every non-synthetic set of :data:`~synthcheck.data.datasets.DATASETS`, in registry order (read now, so a set
    registered later is included)."""
    return tuple(name for name, spec in DATASETS.items() if not spec.synthetic)


def parse_merge(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``SPEAKER=INTO`` items (repeated or comma-separated) as pairs.

    ``["a=b", "c=d,e=f"]`` → ``(("a", "b"), ("c", "d"), ("e", "f"))``.

    Raises
    ------
    BadInputError
        An item that is not ``SPEAKER=INTO`` with two non-empty labels.
    """
    pairs = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            speaker, sep, into = (part.strip() for part in item.partition("="))
            if not sep or not speaker or not into or "=" in into:
                raise BadInputError(f"--merge: expected SPEAKER=INTO (e.g. beckett=librivox-two-cities), got {item!r}")
            pairs.append((speaker, into))
    return tuple(pairs)


def clips_needed_to_certify(target_fpr: float) -> int | None:
    """Fewest clips that, with no false positive, put the Wilson 95 % upper bound at or below ``target_fpr``.

    None when no number does (``target_fpr`` 0).
    """
    if target_fpr <= 0:
        return None

    def certifies(n: int) -> bool:
        return wilson_interval(0, n)[1] <= target_fpr

    high = 1
    while not certifies(high):  # the bound falls with n: double, then bisect
        high *= 2
    low = high // 2  # does not certify (or is 0)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if certifies(middle) else (middle, high)
    return high


def human_pool(datasets: Sequence[str] = ()) -> list[tuple[str, Utterance]]:
    """``(dataset, utterance)`` for every utterance of the recorded sets (``datasets``; empty: all of them)."""
    names = tuple(datasets) or recorded_datasets()
    return [(name, utterance) for name in names for utterance in DATASETS[name].build()]


def run_speaker_calibration(
    settings: SpeakerCalibrationSettings,
    *,
    pool: Sequence[tuple[str, Utterance]] | None = None,
    progress: Progress | None = None,
) -> SpeakerCalibration:
    """Transcribe the pool, score its clean clips once per member detector, and calibrate every detector LOSO.

    Parameters
    ----------
    settings
        Recogniser, detectors, target, merge, seed.
    pool
        ``(dataset, utterance)`` items to use instead of :func:`human_pool` (e.g. a subset).
    progress
        Called as ``progress(source, stage, done, total)`` after every transcription and every check.

    Raises
    ------
    BadInputError
        A merge naming a speaker not in the pool, an utterance without a speaker label, or fewer than two
        speakers with clean clips.
    """
    from synthcheck.asr.registry import get_recognizer
    from synthcheck.experiments.pipeline import software_versions

    items = list(human_pool(settings.pool_datasets) if pool is None else pool)
    groups = speaker_groups([u for _, u in items], settings.merge)
    if len(set(groups.values())) < 2:
        raise BadInputError(f"leave-one-speaker-out needs at least two speakers, the pool has "
                            f"{', '.join(sorted(set(groups.values()))) or 'none'}")
    members = _all_members(settings)
    recognizer = get_recognizer(settings.recognizer)
    rng = np.random.default_rng(settings.seed)
    records = []
    for i, (dataset, utterance) in enumerate(items):
        heard = evaluation_audio(dataset, [utterance.audio], rng)[0]
        transcript = recognizer.transcribe_batch([heard])[0]  # one clip at a time, as `synthcheck detect`
        records.append(EvalRecord(f"{dataset}/{utterance.key}", heard, utterance.text, transcript, None, ""))
        if progress is not None:
            progress(settings.recognizer, "transcribe", i + 1, len(items))
    clean = [r for r in records if r.correctly_transcribed]
    log.info("%d of %d clips transcribed exactly by %s", len(clean), len(records), settings.recognizer)
    columns = []
    for member in members:  # each member scores each clean clip once; every fold reuses the scores
        detector = DETECTOR_CONFIGS[member].build(recognizer)
        columns.append(score_items(detector, [(r.audio, r.transcript) for r in clean],
                                   _ticker(progress, member, len(clean)))[0])
    rows = iter(zip(*columns))
    clips = tuple(
        CalibrationClip(r.key, dataset, u.speaker, u.text, r.transcript, u.seconds, r.correctly_transcribed,
                        tuple(float(s) for s in next(rows)) if r.correctly_transcribed else ())
        for (dataset, u), r in zip(items, records)
    )
    speakers = _speaker_groups(clips, groups)
    detectors = calibrate_clips(clips, members, settings)
    voices = sorted({v for m in members for v in DETECTOR_CONFIGS[m].voices})
    return SpeakerCalibration(settings, members, clips, speakers, detectors,
                              clips_needed_to_certify(settings.target_fpr), software_versions(voices))


def calibrate_clips(
    clips: Sequence[CalibrationClip],
    members: Sequence[str],
    settings: SpeakerCalibrationSettings,
) -> tuple[DetectorCalibration, ...]:
    """LOSO calibration of every detector of ``settings`` from scored clips (no model runs here).

    Parameters
    ----------
    clips
        The pool; the ``correct`` ones carry one score per ``members``. They are held out by
        :attr:`~CalibrationClip.recorded_speaker` after ``settings.merge``.
    members
        Configuration names of the score columns (must include every member of every detector).
    settings
        Detectors, recogniser (resolving ``likelihood``), target and merge.

    Raises
    ------
    BadInputError
        Fewer than two speakers with clean clips, or a merge naming a speaker not among the clips.
    """
    groups = _groups([c.recorded_speaker for c in clips], settings.merge)
    clean = [c for c in clips if c.correct]
    order = list(dict.fromkeys(groups[c.recorded_speaker] for c in clips))
    labels = np.array([groups[c.recorded_speaker] for c in clean])
    keys = np.array([c.key for c in clean])
    table = np.array([c.scores for c in clean], dtype=np.float64).reshape(len(clean), len(members))
    if len(set(labels)) < 2:
        raise BadInputError(f"leave-one-speaker-out needs clean clips of at least two speakers, got "
                            f"{', '.join(sorted(set(labels))) or 'none'}")
    out = []
    for name in settings.detectors:
        config, parts = _member_configs(name, settings.recognizer)
        scores = table[:, [list(members).index(p) for p in parts]]
        shipped = (config.threshold, tuple(DETECTOR_CONFIGS[p].threshold for p in parts) if config.members else ())
        for variant in (MEMBERS, NORMALISED) if config.members else (SINGLE,):
            out.append(_calibrate_detector(name, config.name, variant, parts, scores, labels, keys, order, shipped,
                                           settings.target_fpr))
    return tuple(out)


# --- folds ---------------------------------------------------------------------------------------
def _calibrate_detector(
    name: str,
    config: str,
    variant: Variant,
    parts: tuple[str, ...],
    scores: np.ndarray,
    labels: np.ndarray,
    keys: np.ndarray,
    order: Sequence[str],
    shipped: tuple[float, tuple[float, ...]],
    target: float,
) -> DetectorCalibration:
    shipped_threshold, shipped_members = shipped
    folds = []
    for speaker in order:
        held, others = labels == speaker, labels != speaker
        threshold, member_thresholds = _calibrate(variant, scores[others], target, name)
        flagged = _flagged(_decision(variant, scores[held], member_thresholds), threshold)
        at_shipped = _flagged(_decision(variant, scores[held], shipped_members), shipped_threshold)
        held_out = _rate(flagged)
        folds.append(Fold(speaker, int(others.sum()), threshold, member_thresholds, held_out, _rate(at_shipped),
                          tuple(keys[held][flagged]), tuple(keys[held][at_shipped]), held_out.certifies(target)))
    threshold, member_thresholds = _calibrate(variant, scores, target, name)
    pooled = Rate.of(sum(f.held_out.flagged for f in folds), sum(f.held_out.n for f in folds))
    log.info("%s (%s): pooled LOSO FPR %d/%d", name, variant, pooled.flagged, pooled.n)
    return DetectorCalibration(
        detector=name, config=config, variant=variant, members=parts, shipped_threshold=shipped_threshold,
        shipped_member_thresholds=shipped_members, in_sample_threshold=threshold,
        in_sample_member_thresholds=member_thresholds,
        in_sample=_rate(_flagged(_decision(variant, scores, member_thresholds), threshold)), folds=tuple(folds),
        held_out=pooled, shipped=_rate(_flagged(_decision(variant, scores, shipped_members), shipped_threshold)),
        certified=pooled.certifies(target),
    )


def _calibrate(variant: Variant, scores: np.ndarray, target: float, name: str) -> tuple[float, tuple[float, ...]]:
    """(threshold of the decision score, member thresholds) calibrated on ``scores`` [clips, members]."""
    if variant == SINGLE:
        return calibrate_threshold(scores[:, 0], target), ()
    members = tuple(calibrate_threshold(scores[:, k], target) for k in range(scores.shape[1]))
    if any(t <= 0 for t in members):
        raise BadInputError(f"{name}: a member threshold calibrated to {min(members)}; the all-of score divides by "
                            "positive member thresholds only")
    if variant == MEMBERS:
        return ALL_OF_THRESHOLD, members
    return calibrate_threshold(_decision(variant, scores, members), target), members


def _decision(variant: Variant, scores: np.ndarray, member_thresholds: tuple[float, ...]) -> np.ndarray:
    """The score compared with the threshold: the score itself, or the all-of ``min_k score_k / threshold_k``."""
    if variant == SINGLE:
        return scores[:, 0]
    return np.min(scores / np.asarray(member_thresholds, dtype=np.float64), axis=1)


def _flagged(decision: np.ndarray, threshold: float) -> np.ndarray:
    """Which clips are flagged: a score strictly below the threshold (the rule of :mod:`synthcheck.detect.calibration`
    and :class:`~synthcheck.detect.detector.Verdict`)."""
    return decision < threshold


def _rate(flagged: np.ndarray) -> Rate:
    return Rate.of(int(np.count_nonzero(flagged)), int(flagged.size))


def _ticker(progress: Progress | None, source: str, total: int) -> Callable[[], None] | None:
    """A no-argument callback (:func:`score_items`' ``progress``) reporting ``source``'s checks to ``progress``."""
    if progress is None:
        return None
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        progress(source, "score", done, total)

    return tick


# --- members and speakers ------------------------------------------------------------------------
def _member_configs(name: str, recognizer: str) -> tuple[DetectorConfig, tuple[str, ...]]:
    """The configuration ``name`` resolves to and the configurations whose scores decide it."""
    config = DETECTOR_CONFIGS[resolve_config_name(name, recognizer)]
    if not config.members:
        return config, (config.name,)
    parts = tuple(resolve_config_name(m, recognizer) for m in config.members)
    nested = [p for p in parts if DETECTOR_CONFIGS[p].members]
    if nested:
        raise BadInputError(f"{name}: member {nested[0]} is itself an all-of detector; not supported")
    return config, parts


def _all_members(settings: SpeakerCalibrationSettings) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for name in settings.detectors:
        names.update(dict.fromkeys(_member_configs(name, settings.recognizer)[1]))
    return tuple(names)


def speaker_groups(utterances: Sequence[Utterance], merge: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """Recorded speaker label → group label, for every label of ``utterances`` after ``merge``, in pool order.

    Raises
    ------
    BadInputError
        An utterance without a speaker label, or a merge naming a label that no utterance has.
    """
    unlabelled = [u.key for u in utterances if not u.speaker]
    if unlabelled:
        raise BadInputError(f"utterance {unlabelled[0]} has no speaker label; leave-one-speaker-out needs one")
    return _groups([u.speaker for u in utterances], merge)


def _groups(speakers: Sequence[str], merge: Sequence[tuple[str, str]]) -> dict[str, str]:
    known = list(dict.fromkeys(speakers))
    for speaker, into in merge:
        for label in (speaker, into):
            if label not in known:
                raise BadInputError(f"--merge {speaker}={into}: unknown speaker {label!r}; the pool's speakers: "
                                    f"{', '.join(known)}")
    into = dict(merge)
    return {label: into.get(label, label) for label in known}


def _speaker_groups(clips: Sequence[CalibrationClip], groups: Mapping[str, str]) -> tuple[SpeakerGroup, ...]:
    out = []
    for speaker in dict.fromkeys(groups[c.recorded_speaker] for c in clips):
        mine = [c for c in clips if groups[c.recorded_speaker] == speaker]
        out.append(SpeakerGroup(
            speaker=speaker,
            recorded=tuple(dict.fromkeys(c.recorded_speaker for c in mine)),
            datasets=tuple(dict.fromkeys(c.dataset for c in mine)),
            n_clips=len(mine),
            n_clean=sum(c.correct for c in mine),
            excluded=tuple(c.key for c in mine if not c.correct),
        ))
    return tuple(out)


__all__ = [
    "DEFAULT_DETECTORS",
    "DEFAULT_RECOGNIZER",
    "MEMBERS",
    "NORMALISED",
    "SINGLE",
    "CalibrationClip",
    "DetectorCalibration",
    "Fold",
    "Rate",
    "SpeakerCalibration",
    "SpeakerCalibrationSettings",
    "SpeakerGroup",
    "calibrate_clips",
    "clips_needed_to_certify",
    "human_pool",
    "parse_merge",
    "recorded_datasets",
    "run_speaker_calibration",
    "speaker_groups",
]
