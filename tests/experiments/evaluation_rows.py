"""Build the typed rows of an ``evaluate-detectors`` run by hand (an :class:`EvaluationPart`) with chosen scores,
and store them as the work directory the command writes.

The rows have the shape :func:`~synthcheck.experiments.pipeline.run_experiment` gives: one per attack stage and
item of the source's experiment (its real item keys), every item with a clean result, the attacked clauses
with one outcome per stage. Every verdict's compare time is ``latency × INPUT_SECONDS``, so an evaluation's
latency per second of audio is the chosen latency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from synthcheck.experiments.attack_evaluation import SETTINGS_FILE, EvaluationPart, EvaluationSettings
from synthcheck.experiments.config import PAPER_TARGET, ItemSpec
from synthcheck.experiments.results import AttackOutcome, CleanResult, DetectorScore, ResultRow
from synthcheck.experiments.store import ResultsStore

#: The score of every clean clip outside the calibration set (misrecognised, or beyond ``n_clean``): counted,
#: it would lower every threshold.
OUTLIER_SCORE = 0.01
#: Seconds of every clip; steps and batch wall time of every attack.
INPUT_SECONDS, STEPS, BATCH_SECONDS = 2.0, 120, 86.4
#: Per-config scores: (config, source) for clean clips, (config, source, stage) for attacked ones.
CleanScores = Mapping[tuple[str, str], Sequence[float]]
AttackedScores = Mapping[tuple[str, str, str], Sequence[float | None]]


def evaluation_part(
    settings: EvaluationSettings,
    clean: CleanScores,
    attacked: AttackedScores,
    *,
    db_x: Mapping[str, Sequence[float]],
    target: Callable[[str, int], str] = lambda stage, j: PAPER_TARGET,
    latency: Callable[[str, str], float] = lambda config, source: 0.001,
) -> EvaluationPart:
    """The rows of one run of ``settings``.

    ``clean[config, source]`` are the scores of clauses 0, 1, … (recognised exactly); the run's other clauses are
    misrecognised (below ``n_clean``) or recognised exactly (beyond it), both scoring :data:`OUTLIER_SCORE`.
    ``attacked[config, source, stage][j]`` is the score of the j-th attacked clause's adversarial; a clause no
    config has a score for (missing, or None) was not broken. ``db_x[stage][j]`` is its dB_x (SNR −dB_x − 12),
    ``target(stage, j)`` its target and transcript.
    """
    configs = settings.detector_names()
    rows: dict[str, list[ResultRow]] = {}
    for source in settings.sources:
        specs = settings.experiment(source).items()
        n_exact = len(clean[configs[0], source])

        def clean_result(spec: ItemSpec, source: str = source) -> CleanResult:
            calibrating = spec.index < n_exact
            return CleanResult(
                transcript=spec.sentence, wer=0.0 if calibrating or spec.index >= settings.n_clean else 0.5,
                input_seconds=INPUT_SECONDS,
                detectors={c: _verdict(c, clean[c, source][spec.index] if calibrating else OUTLIER_SCORE,
                                       latency(c, source)) for c in configs})

        def attack_outcome(spec: ItemSpec, stage: str, source: str = source) -> AttackOutcome | None:
            if spec.index not in settings.attacked:
                return None
            j = spec.index - settings.attack_offset
            scores = {c: s[j] for c in configs if (s := attacked.get((c, source, stage))) and s[j] is not None}
            return AttackOutcome(
                transcript=target(stage, j), success=bool(scores), target=target(stage, j),
                detectors={c: _verdict(c, scores.get(c, 0.5), latency(c, source)) for c in configs},
                input_seconds=INPUT_SECONDS, db_x=db_x[stage][j], snr_db=-db_x[stage][j] - 12.0,
                wer_target=0.0 if scores else 1.0, wer_source=1.0, steps=STEPS, seconds=BATCH_SECONDS)

        cleans = {spec.key: clean_result(spec) for spec in specs}
        rows[source] = [ResultRow(spec, stage, cleans[spec.key], attack_outcome(spec, stage))
                        for stage in settings.stages for spec in specs]
    return EvaluationPart(settings, rows)


def write_work_dir(part: EvaluationPart, work_dir: Path) -> Path:
    """Store ``part`` as ``evaluate-detectors`` leaves its work directory (settings, one store per source)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / SETTINGS_FILE).write_text(json.dumps(part.settings.to_dict()))
    for source, rows in part.rows.items():
        with ResultsStore.open(work_dir / source, part.settings.experiment(source), {}) as store:
            for key, clean in {r.spec.key: r.clean for r in rows}.items():
                store.commit("clean", key, clean, {})
            for r in rows:
                if r.attack is not None:
                    store.commit(r.attack_kind, r.spec.key, r.attack, {})
    return work_dir


def _verdict(config: str, score: float, latency: float) -> DetectorScore:
    return DetectorScore(score=score, threshold=0.5, consistent=score >= 0.5, config=config,
                         compare_seconds=latency * INPUT_SECONDS)
