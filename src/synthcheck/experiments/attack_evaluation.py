"""Detectors against real attacks (``synthcheck evaluate-detectors``): every attack kind on every source, every
detector scored, on the one experiment driver.

Each source is one experiment (:func:`~synthcheck.experiments.pipeline.run_experiment`, its own run directory
``<work dir>/<source>/``): its first ``n_clean`` clauses run the clean stage (the calibration set), clauses
``attack_offset … attack_offset + n_attack − 1`` are attacked by every stage (an attack kind of
:data:`~synthcheck.attacks.kinds.ATTACK_KINDS`), and every detector configuration scores every clean and
adversarial clip. Runs are therefore resumable and kill-safe like ``reproduce``, and run on the same executors.
Synthetic sources (``two-cities-tts``) pass the paper's channel; recorded ones are heard as recorded (16 bits).

:func:`attack_evaluation` then computes, from the runs' typed rows alone: per stage and source the attack's
success and distortion (:class:`StageSummary`); per detector, source and stage a
:class:`~synthcheck.experiments.metrics.DetectorEvaluation` (threshold calibrated on the source's correctly
recognised clean clips, AUC against the stage's successful adversarials); each adversarial's scores and whether
it evades (:class:`AttackedItem`); how often the adaptive attacks evade, and within which budget
(:class:`EvasionRow`). :func:`theorem13_rows` adds the Theorem 1.3 estimate (:mod:`synthcheck.theory.theorem13`).
Runs over different clauses of the same settings (``attack_offset``) are pooled by giving them together.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.asr.precision import resolve_precision
from synthcheck.attacks.kinds import ATTACK_KINDS, TARGET_KINDS
from synthcheck.cache import atomic_write_bytes, content_key
from synthcheck.data.datasets import DATASETS
from synthcheck.errors import BadInputError
from synthcheck.experiments.config import PAPER_TARGET, ExperimentConfig
from synthcheck.experiments.metrics import CALIBRATION_FPR, DetectorEvaluation, evaluation_from_scores, median_finite
from synthcheck.experiments.results import CleanResult, ResultRow
from synthcheck.experiments.settings_file import SETTINGS_FILE, read_settings_file, settings_from_dict
from synthcheck.jsonable import json_safe
from synthcheck.theory.theorem13 import Theorem13Row

log = logging.getLogger(__name__)

#: Relative tolerance between the clean scores of runs that are pooled (float32 sums in another order agree to
#: about 1e-6 relative; a different clip or model differs by far more).
POOL_SCORE_RTOL = 1e-5

#: The stages the Theorem 1.3 estimate is made for: the non-adaptive kinds (the adaptive ones share their targets).
THEOREM13_STAGES = ("targeted", "small-edit")


@dataclass(frozen=True)
class EvaluationSettings:
    """What ``evaluate-detectors`` runs; stored in its work directory (:data:`SETTINGS_FILE`).

    ``n_attack`` clauses per source are attacked, from clause ``attack_offset`` on (another offset attacks other
    clauses against the same clean calibration set: :func:`attack_evaluation` pools such runs); the first
    ``n_clean`` calibrate the thresholds. ``stage_budget_s`` caps each attack batch's optimisation time (None:
    ``steps`` only). ``detectors``: configuration names (empty: every standard one,
    :func:`~synthcheck.experiments.detector_evaluation.standard_configs`).
    """

    recognizer: str = "whisper-tiny.en"
    sources: tuple[str, ...] = ("two-cities-tts", "two-cities-human")
    detectors: tuple[str, ...] = ()
    n_attack: int = 3
    n_clean: int = 18
    steps: int = 300
    stop_db_x: float = -45.0
    stage_budget_s: float | None = None
    stages: tuple[str, ...] = TARGET_KINDS
    detector_weight: float = 1.0
    target_fpr: float = CALIBRATION_FPR
    seed: int = 0
    attack_offset: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("sources", "detectors", "stages"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "precision", resolve_precision(self.precision))
        if self.n_attack < 1 or self.n_clean < 1:
            raise BadInputError("n_attack and n_clean must be at least 1")
        if self.attack_offset < 0:
            raise BadInputError(f"attack_offset must be >= 0, got {self.attack_offset}")
        if not self.stages:
            raise BadInputError(f"give at least one attack stage: {', '.join(ATTACK_KINDS)}")
        for stage in self.stages:
            ATTACK_KINDS[stage]  # an unknown stage fails here, listing the kinds
        if self.steps < 1:
            raise BadInputError(f"steps must be at least 1 (with {self.steps} steps no attack runs)")
        if not self.sources:
            raise BadInputError(f"give at least one source: {', '.join(DATASETS)}")
        for source in self.sources:
            DATASETS[source]
        if not 0 < self.target_fpr < 1:
            raise BadInputError(f"target_fpr must be in (0, 1), got {self.target_fpr}")
        self.detector_names()  # unknown detector names fail here, before any attack runs

    def detector_names(self) -> tuple[str, ...]:
        """The configurations scored, by resolved name (``likelihood`` → the independent judge's)."""
        from synthcheck.detect.configs import resolve_config_name
        from synthcheck.experiments.detector_evaluation import standard_configs

        if not self.detectors:
            return tuple(c.name for c in standard_configs(self.recognizer))
        return tuple(dict.fromkeys(resolve_config_name(n, self.recognizer) for n in self.detectors))

    @property
    def attacked(self) -> range:
        """The indices of the attacked clauses."""
        return range(self.attack_offset, self.attack_offset + self.n_attack)

    def experiment(self, source: str) -> ExperimentConfig:
        """The experiment that runs ``source``: its first ``max(n_clean, last attacked + 1)`` clauses, every stage
        on the attacked ones, every detector (the first is the primary), the paper's channel for synthetic sets."""
        from synthcheck.experiments.sources import dataset_texts

        texts = dataset_texts(source)
        needed = max(self.n_clean, self.attacked.stop)
        if needed > len(texts):
            raise BadInputError(f"{source} has {len(texts)} clauses; n_clean / attack_offset + n_attack ask for "
                                f"{needed}: ask for fewer")
        return ExperimentConfig(
            sentences=texts[:needed], dataset=source, channel="awgn" if DATASETS[source].synthetic else "none",
            recognizer=self.recognizer, precision=self.precision, target=PAPER_TARGET, attacks=self.stages,
            attack_steps=self.steps,
            attack_batch_size=self.n_attack, attack_stop_db_x=self.stop_db_x,
            attack_sentences=tuple(self.attacked), attack_time_budget_s=self.stage_budget_s,
            detector_weight=self.detector_weight, detectors=self.detector_names(), seed=self.seed,
        )

    def key(self) -> str:
        """Content hash of the settings that change what is computed (names the work directory): stages are left
        out (a run with more stages resumes the others), and so is ``target_fpr`` (it only changes the numbers)."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("stages", "target_fpr")}
        relevant["detectors"] = list(self.detector_names())
        return content_key(json.dumps(relevant, sort_keys=True).encode())[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationSettings:
        """The inverse of :meth:`to_dict` (unknown keys are refused)."""
        return settings_from_dict(cls, data, "evaluation settings")


@dataclass(frozen=True)
class EvaluationPart:
    """One evaluation run: its settings and, per source, the rows of its experiment and where they are stored."""

    settings: EvaluationSettings
    rows: dict[str, list[ResultRow]]
    run_dirs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class StageSummary:
    """One attack stage on one source: successes of ``n`` attacked clips, medians over the successes, the
    attack's steps (most of any batch) and seconds (summed over batches)."""

    stage: str
    source: str
    n: int
    successes: int
    median_db_x: float
    median_snr_db: float
    seconds: float
    steps: int


@dataclass(frozen=True)
class AttackedItem:
    """One successful adversarial: what it was, its size, each detector's score and whether it evades: ``evades``
    at the threshold calibrated on the source's clean clips, ``evades_configured`` at the threshold the detector
    was built with (its shipped calibration: what ``detect`` uses and what an adaptive attacker aims at)."""

    stage: str
    source: str
    key: str
    target: str
    transcript: str
    db_x: float
    snr_db: float
    scores: dict[str, float]
    evades: dict[str, bool]
    evades_configured: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class EvasionRow:
    """An adaptive stage against one detector on one source.

    ``evaded`` counts attacked clips whose adversarial fooled the recogniser *and* scored at or above the
    detector's clean-calibrated threshold; ``evaded_configured`` those that passed the detector at the threshold
    it was built with (the one the adaptive attacker was given: when the source's clean clips score high, the
    source's threshold is stricter, and an attacker who stopped at the configured one is "caught" there without
    the detector having earned it); ``within_budget`` those whose perturbation (dB_x) is no larger than the
    non-adaptive attack's on the same clip (the kind's :attr:`~synthcheck.attacks.kinds.AttackKind.reference`; a clip
    the non-adaptive attack did not break has no budget); medians over the evading clips.
    """

    stage: str
    source: str
    detector: str
    n: int
    evaded: int
    within_budget: int
    median_db_x: float
    median_snr_db: float
    evaded_configured: int = 0


@dataclass
class AttackEvaluation:
    """Everything ``evaluate-detectors`` measured (one run, or several pooled).

    ``evaluations`` are keyed by (config, source, stage) (:attr:`DetectorEvaluation.key`); ``offsets`` are the
    ``attack_offset`` of each pooled run, ``n_attack`` the attacked clauses per source in all of them.
    """

    settings: EvaluationSettings
    offsets: tuple[int, ...]
    n_attack: int
    stages: list[StageSummary]
    evaluations: list[DetectorEvaluation]
    items: list[AttackedItem]
    evasion: list[EvasionRow]
    theorem13: list[Theorem13Row] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def evaluation(self, config: str, source: str, stage: str) -> DetectorEvaluation | None:
        """The evaluation of ``config`` on ``source`` in ``stage`` (None: not evaluated)."""
        return next((e for e in self.evaluations if e.key == (config, source, stage)), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN as None) of every table."""
        return json_safe({
            "settings": self.settings.to_dict(), "offsets": list(self.offsets), "n_attack": self.n_attack,
            "stages": [asdict(s) for s in self.stages], "evaluations": [e.to_dict() for e in self.evaluations],
            "items": [asdict(i) for i in self.items], "evasion": [asdict(r) for r in self.evasion],
            "theorem13": [r.to_dict() for r in self.theorem13], "versions": self.versions,
        })


def run_attack_evaluation(
    settings: EvaluationSettings,
    work_dir: Path,
    *,
    executor: Any = None,
    progress: Callable[[str, str, float, float], None] | None = None,
    checkpoint_seconds: float | None = None,
) -> AttackEvaluation:
    """Run (or resume) every source's experiment in ``work_dir/<source>/``, then evaluate.

    ``progress(source, stage, done, total)`` is called as work completes (stage ``clean`` or ``attack``).
    """
    from synthcheck.experiments.pipeline import CHECKPOINT_SECONDS, run_experiment, software_versions

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(work_dir / SETTINGS_FILE, json.dumps(settings.to_dict(), indent=2).encode())
    rows, run_dirs = {}, {}
    for source in settings.sources:
        report = None if progress is None else (lambda stage, done, total, s=source: progress(s, stage, done, total))
        # force: a rerun with other stages keeps the finished ones (everything else that matters is in the key)
        run = run_experiment(settings.experiment(source), work_dir / source, executor=executor, force=True,
                             progress=report, checkpoint_seconds=checkpoint_seconds or CHECKPOINT_SECONDS)
        rows[source], run_dirs[source] = run.rows, run.run_dir
    part = EvaluationPart(settings, rows, run_dirs)
    evaluation = attack_evaluation([part], theorem13_rows(part))
    evaluation.versions = software_versions(_one_voice_per_engine())
    return evaluation


def read_attack_evaluation(work_dirs: Sequence[Path]) -> AttackEvaluation:
    """The evaluation of finished ``evaluate-detectors`` work directories (several: pooled).

    Raises
    ------
    BadInputError
        A directory is not an evaluate-detectors work directory (a results JSON of the earlier format included).
    """
    from synthcheck.experiments.pipeline import ExperimentRun, software_versions

    parts = []
    for work_dir in map(Path, work_dirs):
        if work_dir.is_file():
            raise BadInputError(f"{work_dir}: a file; give the work directory runs/detectors-<hash>/ of an "
                                "evaluate-detectors run (results files of evaluate-detectors before 2026-12 cannot be "
                                "re-rendered: their attacks were cached outside the results store; rerun "
                                "evaluate-detectors)")
        if not work_dir.exists():
            raise BadInputError(f"{work_dir}: not found; give the work directory runs/detectors-<hash>/ of an "
                                "evaluate-detectors run")
        settings = read_settings_file(work_dir, EvaluationSettings,
                                      "runs/detectors-<hash>/ that evaluate-detectors wrote")
        runs = {source: ExperimentRun.read(work_dir / source) for source in settings.sources}
        parts.append(EvaluationPart(settings, {s: r.rows for s, r in runs.items()},
                                    {s: r.run_dir for s, r in runs.items()}))
    evaluation = attack_evaluation(parts, [row for part in parts for row in theorem13_rows(part)])
    evaluation.versions = software_versions(_one_voice_per_engine())
    return evaluation


def attack_evaluation(parts: Sequence[EvaluationPart], theorem13: Sequence[Theorem13Row] = ()) -> AttackEvaluation:
    """Every table of the evaluation, from the typed rows of one or several runs (see the module docstring).

    Several parts must differ only in the clauses they attacked (``attack_offset``, ``n_attack``) and share the
    clean calibration scores; their attacked clips are pooled.

    Raises
    ------
    BadInputError
        No parts; parts whose settings differ beyond the clauses attacked, whose attacked clauses overlap, or
        whose clean scores differ.
    """
    if not parts:
        raise BadInputError("no evaluate-detectors run to evaluate")
    settings = parts[0].settings
    _check_poolable(parts)
    configs = settings.detector_names()
    stages, evaluations, items, evasion = [], [], [], []
    for source in settings.sources:
        clean = _calibration(parts, source)
        for stage in settings.stages:
            per_part = [[r for r in part.rows[source] if r.attack_kind == stage and r.spec.index in part.settings.attacked]
                        for part in parts]
            attacked = [r for rows in per_part for r in rows]
            stages.append(_stage_summary(stage, source, per_part))
            successes = [r for r in attacked if r.attack is not None and r.attack.success]
            by_config = {}
            for config in configs:
                clean_scores = [c.detectors[config] for c in clean if config in c.detectors]
                attacked_scores = [r.attack.detectors[config] for r in successes if config in r.attack.detectors]
                seconds = sum(s.compare_seconds for s in clean_scores + attacked_scores)
                audio = sum(c.input_seconds for c in clean) + sum(r.attack.input_seconds for r in successes)
                by_config[config] = evaluation_from_scores(
                    [s.score for s in clean_scores], [s.score for s in attacked_scores], config=config, source=source,
                    stage=stage, proxy=False, latency_per_second=seconds / audio if audio else math.nan,
                    target_fpr=settings.target_fpr)
            evaluations += by_config.values()
            items += [AttackedItem(
                stage=stage, source=source, key=r.spec.key, target=r.attack.target, transcript=r.attack.transcript,
                db_x=r.attack.db_x, snr_db=r.attack.snr_db,
                scores={c: r.attack.detectors[c].score for c in configs if c in r.attack.detectors},
                evades={c: r.attack.detectors[c].score >= by_config[c].threshold for c in configs
                        if c in r.attack.detectors},
                evades_configured={c: r.attack.detectors[c].consistent for c in configs if c in r.attack.detectors},
            ) for r in successes]
    for stage in settings.stages:
        evasion += _evasion_rows(stage, items, stages, configs)
    return AttackEvaluation(
        settings=settings, offsets=tuple(p.settings.attack_offset for p in parts),
        n_attack=sum(p.settings.n_attack for p in parts), stages=stages, evaluations=evaluations, items=items,
        evasion=evasion, theorem13=list(theorem13))


def theorem13_rows(part: EvaluationPart, voices: Sequence[str] | None = None) -> list[Theorem13Row]:
    """The Theorem 1.3 estimate (:class:`~synthcheck.theory.theorem13.Theorem13Row`) for every clip attacked in
    the :data:`THEOREM13_STAGES` of ``part``, over the renderings of ``voices`` (default: the 8 voices of
    :data:`~synthcheck.detect.voice_search.DEFAULT_VOICES`); reads the clips' y1 from the run directories."""
    from synthcheck.detect.voice_search import DEFAULT_VOICES
    from synthcheck.experiments.store import read_stored_audio
    from synthcheck.theory.theorem13 import nearest_distance
    from synthcheck.tts import synthesizer_from_id

    synthesizers = [synthesizer_from_id(v) for v in (voices or DEFAULT_VOICES)]

    def renderings(text: str) -> list[np.ndarray]:
        return [s.synthesize(text) for s in synthesizers]

    stages = [s for s in THEOREM13_STAGES if s in part.settings.stages]
    out: list[Theorem13Row] = []
    for source in part.settings.sources if stages else ():
        run_dir = part.run_dirs[source]
        clean = _calibration([part], source)
        heard = {r.spec.key: read_stored_audio(run_dir, r.clean.audio["channel"])
                 for r in part.rows[source] if r.clean is not None}
        calibration_keys = [r.spec.key for r in _calibration_rows(part, source)]
        radius = max((nearest_distance(heard[key], renderings(c.transcript))
                      for key, c in zip(calibration_keys, clean)), default=math.nan)
        for stage in stages:
            kind = ATTACK_KINDS[stage]
            for row in part.rows[source]:
                if row.attack_kind != stage or row.spec.index not in part.settings.attacked:
                    continue
                target = kind.target(row.spec.sentence, PAPER_TARGET)
                out.append(Theorem13Row.estimate(stage=stage, source=source, key=row.spec.key, target=target,
                                                 x=heard[row.spec.key], target_renderings=renderings(target),
                                                 radius=radius))
    return out


def _calibration_rows(part: EvaluationPart, source: str) -> list[ResultRow]:
    """The rows (one per item) of the source's first ``n_clean`` clauses that the recogniser transcribed exactly."""
    seen: dict[str, ResultRow] = {}
    for r in part.rows[source]:
        if r.clean is not None and r.clean.exact and r.spec.index < part.settings.n_clean:
            seen.setdefault(r.spec.key, r)
    return list(seen.values())


def _calibration(parts: Sequence[EvaluationPart], source: str) -> list[CleanResult]:
    """The clean results calibrating ``source``'s thresholds (identical in every part, else refused)."""
    sets = [[r.clean for r in _calibration_rows(part, source)] for part in parts]
    first = _scores(sets[0])
    for other in map(_scores, sets[1:]):
        # Runs with other --threads sum in another order: scores agree to float32 rounding, not bit for bit.
        if len(other) != len(first) or any(
            a.keys() != b.keys() or not all(math.isclose(a[k], b[k], rel_tol=POOL_SCORE_RTOL) for k in a)
            for a, b in zip(other, first)
        ):
            raise BadInputError(f"cannot pool: the clean scores on {source} differ between the runs")
    return sets[0]


def _scores(clean: Sequence[CleanResult]) -> list[dict[str, float]]:
    """Each clean result's scores by detector (timings differ between runs; scores must not)."""
    return [{name: d.score for name, d in c.detectors.items()} for c in clean]


def _check_poolable(parts: Sequence[EvaluationPart]) -> None:
    per_run = ("attack_offset", "n_attack", "stages", "target_fpr")
    base = {k: v for k, v in asdict(parts[0].settings).items() if k not in per_run}
    for part in parts[1:]:
        other = asdict(part.settings)
        differing = sorted(k for k in base if other[k] != base[k])
        if differing:
            raise BadInputError(f"cannot pool runs whose settings differ in {', '.join(differing)}")
        if part.settings.stages != parts[0].settings.stages:
            raise BadInputError("cannot pool runs of different attack stages; give runs with the same --stages")
    clauses = [set(p.settings.attacked) for p in parts]
    if sum(len(c) for c in clauses) != len(set().union(*clauses)):
        raise BadInputError("cannot pool runs that attacked the same clauses; give runs with different --offset")


def _stage_summary(stage: str, source: str, per_part: Sequence[Sequence[ResultRow]]) -> StageSummary:
    """The stage's summary; each part attacked its clips in one batch, whose wall time every item carries."""
    done = [[r.attack for r in rows if r.attack is not None] for rows in per_part]
    flat = [a for outcomes in done for a in outcomes]
    ok = [a for a in flat if a.success]
    return StageSummary(stage=stage, source=source, n=sum(len(rows) for rows in per_part), successes=len(ok),
                        median_db_x=median_finite([a.db_x for a in ok]), median_snr_db=median_finite([a.snr_db for a in ok]),
                        seconds=sum(max(a.seconds for a in outcomes) for outcomes in done if outcomes) if flat
                        else math.nan,
                        steps=max((a.steps for a in flat), default=0))


def _evasion_rows(stage: str, items: Sequence[AttackedItem], stages: Sequence[StageSummary],
                  configs: Sequence[str]) -> list[EvasionRow]:
    reference = ATTACK_KINDS[stage].reference
    if reference is None:
        return []
    budget = {(i.source, i.key): i.db_x for i in items if i.stage == reference}
    rows = []
    for summary in (s for s in stages if s.stage == stage):
        mine = [i for i in items if i.stage == stage and i.source == summary.source]
        for config in configs:
            evading = [i for i in mine if i.evades.get(config)]
            rows.append(EvasionRow(
                stage=stage, source=summary.source, detector=config, n=summary.n, evaded=len(evading),
                within_budget=sum(i.db_x <= budget.get((i.source, i.key), -math.inf) for i in evading),
                median_db_x=median_finite([i.db_x for i in evading]), median_snr_db=median_finite([i.snr_db for i in evading]),
                evaded_configured=sum(bool(i.evades_configured.get(config)) for i in mine),
            ))
    return rows


def _one_voice_per_engine() -> list[str]:
    from synthcheck.detect.voice_search import DEFAULT_VOICES

    return list({voice.partition(":")[0]: voice for voice in DEFAULT_VOICES}.values())



__all__ = ["AttackEvaluation", "AttackedItem", "EvaluationPart", "EvaluationSettings", "EvasionRow", "StageSummary",
           "attack_evaluation", "read_attack_evaluation", "run_attack_evaluation", "theorem13_rows"]
