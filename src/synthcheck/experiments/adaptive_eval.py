"""Detectors against real attacks: non-adaptive and adaptive, on pico2wave and human clauses.

Stages are the attack kinds of :mod:`synthcheck.attacks.kinds` (each a batched attack on the protected
recogniser, every item of every source in one batch): ``targeted``, ``small-edit`` and the adaptive ones.

Every stage's adversarials are cached (``<work_dir>/<stage>.npz`` + ``.json``), so an interrupted run resumes
at the first unfinished stage. Each detector configuration then scores the clean clips (calibration: all
``n_clean`` clips of a source the recogniser transcribes right) and every *successful* adversarial of each
stage (judged against what the recogniser decoded). The Theorem 1.3 estimate is :func:`estimate_theorem13`; it is
stored under the key ``"bound"`` (its rows' ``"bound"``: the estimated margin ``min‖c − x‖ − r``), not to be
confused with an attack's shrinking L∞ bound.
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

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.result import AttackProgress, AttackResult
from synthcheck.attacks.adaptive import AdaptiveAttackConfig
from synthcheck.attacks.kinds import ATTACK_KINDS, REFERENCE_KIND, attack_target, build_attack
from synthcheck.audio.channel import paper_channel
from synthcheck.audio.metrics import fitted_snr_db, word_error_rate
from synthcheck.cache import atomic_write_bytes, content_key
from synthcheck.detect.configs import DETECTOR_CONFIGS, resolve_config_name
from synthcheck.detect.voice_search import DEFAULT_VOICES
from synthcheck.errors import BadInputError
from synthcheck.experiments.detector_evaluation import evaluation_audio, score_items, standard_configs
from synthcheck.experiments.metrics import DetectorEvaluation, evaluation_from_scores
from synthcheck.experiments.config import PAPER_TARGET
from synthcheck.jsonable import json_safe

log = logging.getLogger(__name__)

#: The non-adaptive target phrase (Carlini & Wagner's, the paper's).
FIXED_TARGET = PAPER_TARGET
#: The evaluation's attack stages in run order: one per attack kind.
ATTACK_STAGES = ATTACK_KINDS


@dataclass
class AdaptiveEvalSettings:
    """What :func:`run_adaptive_evaluation` runs; stored with the results.

    ``n_attack`` clauses per source are attacked, from clause ``attack_offset`` on (a second run with another
    offset attacks other clauses against the same clean calibration set, see :func:`pool_evaluations`); the
    first ``n_clean`` calibrate the thresholds. ``stage_budget_s`` caps each attack stage's optimisation time
    (None: ``steps`` only).
    """

    recognizer: str = "whisper-tiny.en"
    sources: tuple[str, ...] = ("two-cities-tts", "two-cities-human")
    detectors: tuple[str, ...] = ()
    n_attack: int = 3
    n_clean: int = 18
    steps: int = 300
    stop_db_x: float = -45.0
    stage_budget_s: float | None = None
    stages: tuple[str, ...] = ATTACK_STAGES
    detector_weight: float = 1.0
    target_fpr: float = 0.05
    seed: int = 0
    attack_offset: int = 0

    def __post_init__(self) -> None:
        if self.n_attack < 1 or self.n_clean < 1:
            raise BadInputError("n_attack and n_clean must be at least 1")
        if self.attack_offset < 0:
            raise BadInputError(f"attack_offset must be >= 0, got {self.attack_offset}")
        unknown = set(self.stages) - set(ATTACK_STAGES)
        if unknown:
            raise BadInputError(f"unknown stage(s) {sorted(unknown)}; choose from: {', '.join(ATTACK_STAGES)}")
        if self.steps < 1:
            raise BadInputError(f"steps must be at least 1 (with {self.steps} steps no attack runs)")
        for name in self.detectors:  # unknown names fail here, before any attack runs
            resolve_config_name(name, self.recognizer)

    def key(self) -> str:
        """Content hash of the settings that change the attacks (names the work directory)."""
        # attack_offset joined later: left out at 0 so earlier runs keep their key (and their cached stages)
        attack_relevant = {k: v for k, v in asdict(self).items()
                           if k not in ("detectors", "stages", "target_fpr") and not (k == "attack_offset" and v == 0)}
        # the clips' channel (keys made before it was the paper's 16-bit chain name other audio)
        attack_relevant["channel"] = paper_channel().to_dict()
        return content_key(json.dumps(attack_relevant, sort_keys=True).encode())[:12]


@dataclass
class Clip:
    """A clean clip of a source with the recogniser's transcript."""

    source: str
    key: str
    text: str
    audio: np.ndarray
    transcript: str

    @property
    def correct(self) -> bool:
        """Whether the recogniser transcribed it exactly (normalised WER 0)."""
        return word_error_rate(self.text, self.transcript) == 0.0


@dataclass
class AttackStageResults:
    """One attack stage's per-item attack results (audio kept) on its clips, and their distortion summary."""

    stage: str
    results: list[AttackResult]
    clips: list[Clip]

    def summary(self) -> dict[str, Any]:
        """Success rate and median dB_x / SNR of the successes, per source."""
        out: dict[str, Any] = {}
        for source in dict.fromkeys(c.source for c in self.clips):
            rs = [r for r, c in zip(self.results, self.clips) if c.source == source]
            ok = [r for r in rs if r.success]
            out[source] = {
                "n": len(rs),
                "successes": len(ok),
                "median_db_x": _median([r.db_x for r in ok]),
                "median_snr_db": _median([r.snr_db for r in ok]),
                "seconds": rs[0].seconds if rs else math.nan,
                "steps": rs[0].steps if rs else 0,
            }
        return out


@dataclass
class AdaptiveEvaluation:
    """Everything measured: stage summaries, detector tables, evasion and the Theorem 1.3 estimate.

    ``theorem13`` (per stage, then source: :func:`estimate_theorem13`) is serialised under the key ``"bound"``.
    """

    settings: dict[str, Any]
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluations: list[DetectorEvaluation] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    theorem13: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN as None)."""
        return json_safe({
            "settings": self.settings, "stages": self.stages, "evaluations": [e.to_dict() for e in self.evaluations],
            "items": self.items, "bound": self.theorem13, "evasion": evasion_rows(self),
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptiveEvaluation:
        """The inverse of :meth:`to_dict` (``None`` numbers back to NaN; the derived ``evasion`` is recomputed)."""
        def number(value: Any) -> Any:
            return math.nan if value is None else value

        lists = ("config", "source", "proxy", "clean_scores", "attacked_scores")
        evaluations = [DetectorEvaluation(**{k: v if k in lists else number(v) for k, v in e.items()})
                       for e in data["evaluations"]]
        items = [{**item, "db_x": number(item["db_x"]), "snr_db": number(item["snr_db"])} for item in data["items"]]
        return cls(settings=data["settings"], stages=data["stages"], evaluations=evaluations, items=items,
                   theorem13=data["bound"])


def pool_evaluations(parts: Sequence[AdaptiveEvaluation]) -> AdaptiveEvaluation:
    """One evaluation from runs that attacked different clauses (``attack_offset``) with the same settings.

    The clean calibration scores must be identical across the runs (same clean clips, same seed); attacked scores,
    items and Theorem 1.3 rows are concatenated and every metric is recomputed (AUC, calibrated threshold,
    detection, evasion); stage medians are taken over the pooled successful adversarials.

    Raises
    ------
    BadInputError
        Fewer than two runs, settings that differ beyond the clauses attacked, overlapping clauses, or clean
        scores that differ.
    """
    if len(parts) < 2:
        raise BadInputError("pooling needs at least two evaluate-detectors results")
    per_run = ("attack_offset", "n_attack", "detectors", "stages")
    base = {k: v for k, v in parts[0].settings.items() if k not in per_run}
    for part in parts[1:]:
        differing = sorted(k for k in base if part.settings.get(k) != base[k])
        if differing:
            raise BadInputError(f"cannot pool runs whose settings differ in {', '.join(differing)}")
    clauses = [set(range(p.settings.get("attack_offset", 0), p.settings.get("attack_offset", 0) + p.settings["n_attack"]))
               for p in parts]
    if sum(len(c) for c in clauses) != len(set().union(*clauses)):
        raise BadInputError("cannot pool runs that attacked the same clauses; give runs with different --offset")
    pooled = AdaptiveEvaluation(
        settings={**parts[0].settings, "n_attack": sum(p.settings["n_attack"] for p in parts),
                  "attack_offset": [p.settings.get("attack_offset", 0) for p in parts]},
        items=[item for p in parts for item in p.items],
    )
    groups: dict[tuple[str, str], list[DetectorEvaluation]] = {}
    for part in parts:
        for e in part.evaluations:
            groups.setdefault((e.config, e.source), []).append(e)
    for (config, source), rows in groups.items():
        if len(rows) != len(parts):
            log.info("pooling: %s on %s is missing from some runs; left out", config, source)
            continue
        if any(r.clean_scores != rows[0].clean_scores for r in rows):
            raise BadInputError(f"cannot pool: the clean scores of {config} on {source} differ between runs")
        latencies = [r.latency_per_second for r in rows if math.isfinite(r.latency_per_second)]
        pooled.evaluations.append(evaluation_from_scores(
            rows[0].clean_scores, [s for r in rows for s in r.attacked_scores], config=config, source=source,
            proxy=False, latency_per_second=float(np.mean(latencies)) if latencies else math.nan,
            target_fpr=pooled.settings["target_fpr"]))
    for stage in parts[0].stages:
        pooled.stages[stage] = {}
        for source in parts[0].stages[stage]:
            summaries = [p.stages[stage][source] for p in parts]
            ok = [i for i in pooled.items if i["stage"] == stage and i["source"] == source]
            pooled.stages[stage][source] = {
                "n": sum(s["n"] for s in summaries), "successes": sum(s["successes"] for s in summaries),
                "median_db_x": _median([i["db_x"] for i in ok]), "median_snr_db": _median([i["snr_db"] for i in ok]),
                "seconds": sum(s["seconds"] for s in summaries), "steps": max(s["steps"] for s in summaries),
            }
    for stage in parts[0].theorem13:
        pooled.theorem13[stage] = {
            source: {"radius": b["radius"],
                     "items": [row for p in parts for row in p.theorem13[stage][source]["items"]]}
            for source, b in parts[0].theorem13[stage].items()
        }
    return pooled


def load_clips(recognizer: Recognizer, sources: Sequence[str], n: int, rng: np.random.Generator) -> list[Clip]:
    """The first ``n`` clauses of each source (TTS sources through the paper's channel), transcribed."""
    from synthcheck.data.datasets import load_dataset

    clips = []
    for source in sources:
        utterances = load_dataset(source)[:n]
        audios = evaluation_audio(source, [u.audio for u in utterances], rng)
        transcripts = recognizer.transcribe_batch(audios)
        clips += [Clip(source, u.key, u.text, a, t) for u, a, t in zip(utterances, audios, transcripts)]
    return clips


def stage_targets(stage: str, clips: Sequence[Clip]) -> list[str]:
    """The target text of every clip in ``stage``."""
    return [attack_target(stage, c.text, FIXED_TARGET) for c in clips]


def run_stage(
    stage: str,
    recognizer: Recognizer,
    clips: Sequence[Clip],
    settings: AdaptiveEvalSettings,
    work_dir: Path,
    progress: Callable[[AttackProgress], None] | None = None,
) -> AttackStageResults:
    """Run (or load from ``work_dir``) one attack stage on all ``clips`` in one batch."""
    path = work_dir / f"{stage}.npz"
    if path.exists():
        return AttackStageResults(stage, _load_results(path), list(clips))
    config = AdaptiveAttackConfig(max_steps=settings.steps, stop_db_x=settings.stop_db_x,
                                  time_budget_s=settings.stage_budget_s, seed=settings.seed,
                                  detector_weight=settings.detector_weight)
    attack = build_attack(stage, recognizer, config)
    results = attack.run([c.audio for c in clips], stage_targets(stage, clips), seed=settings.seed, progress=progress)
    _save_results(path, results)
    return AttackStageResults(stage, results, list(clips))


def estimate_theorem13(
    attacked: Sequence[Clip], targets: Sequence[str], clean: Sequence[Clip], voices: Sequence[str] = DEFAULT_VOICES
) -> dict[str, Any]:
    """Estimate Theorem 1.3's perturbation lower bound ``min_{c ∈ X_i} ‖c − x‖ − r`` for each attacked clip.

    ``X_i``: renderings of the target over ``voices``, each aligned (best lag) and gain-fitted to ``x``;
    ``r``: the largest ``min_c ‖y − c‖`` over the correctly recognised clean clips ``y`` of the same source,
    ``c`` ranging over renderings of ``y``'s transcript. An estimate: a finite voice set stands in for
    ``X_i``, and ``r`` for the detector's acceptance radius. Returned per source: ``r``, and per clip the
    distance, the bound (key ``"bound"``) and the bound as an SNR ``20·log10(‖x‖ / bound)`` (``"bound_snr_db"``;
    None when the bound is ≤ 0: vacuous).
    """
    from synthcheck.tts import synthesizer_from_id

    synthesizers = [synthesizer_from_id(v) for v in voices]

    def nearest(x: np.ndarray, text: str) -> float:
        return min(_fitted_distance(s.synthesize(text), x) for s in synthesizers)

    out: dict[str, Any] = {}
    for source in dict.fromkeys(c.source for c in attacked):
        radius = max((nearest(c.audio, c.transcript) for c in clean if c.source == source and c.correct), default=math.nan)
        rows = []
        for clip, target in zip(attacked, targets):
            if clip.source != source:
                continue
            distance = nearest(clip.audio, target)
            margin = distance - radius
            norm = float(np.linalg.norm(clip.audio.astype(np.float64)))
            rows.append({"key": clip.key, "target": target, "distance": distance, "bound": margin,
                         "bound_snr_db": 20 * math.log10(norm / margin) if margin > 0 else None, "norm": norm})
        out[source] = {"radius": radius, "items": rows}
    return out


def run_adaptive_evaluation(
    settings: AdaptiveEvalSettings,
    work_dir: Path,
    *,
    attack_progress: Callable[[str, AttackProgress], None] | None = None,
    check_progress: Callable[[], None] | None = None,
) -> AdaptiveEvaluation:
    """Run the stages (resuming from ``work_dir``), then every detector configuration on each stage.

    Sources are scored per stage as ``"<source> / <stage>"`` rows; only successful adversarials count as
    attacked items. The result also holds per-item scores and the Theorem 1.3 estimates.
    """
    from synthcheck.asr.registry import get_recognizer

    work_dir.mkdir(parents=True, exist_ok=True)
    asr = get_recognizer(settings.recognizer)
    rng = np.random.default_rng(settings.seed)
    first, stop = settings.attack_offset, settings.attack_offset + settings.n_attack
    clips = load_clips(asr, settings.sources, max(settings.n_clean, stop), rng)
    attacked = [c for source in settings.sources for c in [c for c in clips if c.source == source][first:stop]]
    clean = [c for source in settings.sources for c in [c for c in clips if c.source == source][: settings.n_clean]]
    outcomes = [
        run_stage(stage, asr, attacked, settings, work_dir,
                  None if attack_progress is None else (lambda p, s=stage: attack_progress(s, p)))
        for stage in settings.stages
    ]
    configs = standard_configs(settings.recognizer)
    if settings.detectors:
        configs = [DETECTOR_CONFIGS[resolve_config_name(n, settings.recognizer)] for n in settings.detectors]
    evaluation = AdaptiveEvaluation(settings=asdict(settings), stages={o.stage: o.summary() for o in outcomes})
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for config in configs:
        detector = config.build(asr)
        for source in settings.sources:
            good = [c for c in clean if c.source == source and c.correct]
            clean_scores, busy, seconds = score_items(detector, [(c.audio, c.transcript) for c in good], check_progress)
            for outcome in outcomes:
                pairs = [(r, c) for r, c in zip(outcome.results, outcome.clips) if c.source == source and r.success]
                scores, busy_a, seconds_a = score_items(detector, [(r.adversarial, r.transcript) for r, _ in pairs],
                                                        check_progress)
                total_seconds = seconds + seconds_a
                result = evaluation_from_scores(
                    clean_scores, scores, config=config.name, source=f"{source} / {outcome.stage}", proxy=False,
                    latency_per_second=(busy + busy_a) / total_seconds if total_seconds else math.nan,
                    target_fpr=settings.target_fpr,
                )
                evaluation.evaluations.append(result)
                for (r, c), s in zip(pairs, scores):
                    row = items.setdefault((outcome.stage, c.key + "@" + source), {
                        "stage": outcome.stage, "source": source, "key": c.key, "target": r.target,
                        "transcript": r.transcript, "db_x": r.db_x, "snr_db": r.snr_db, "scores": {}, "evades": {}})
                    row["scores"][config.name] = s
                    row["evades"][config.name] = bool(s >= result.threshold)
    evaluation.items = list(items.values())
    estimated = [o for o in outcomes if o.stage in ("targeted", "small-edit")]
    evaluation.theorem13 = {o.stage: estimate_theorem13(attacked, stage_targets(o.stage, attacked), clean)
                            for o in estimated}
    return evaluation


def stage_table(evaluation: AdaptiveEvaluation) -> str:
    """Markdown table of the attack stages: successes and median distortion per source."""
    lines = ["| stage | source | success | median dB_x | median SNR dB | steps | seconds |", "|---|---|---|---|---|---|---|"]
    for stage, per_source in evaluation.stages.items():
        for source, s in per_source.items():
            lines.append(f"| {stage} | {source} | {s['successes']}/{s['n']} | {_fmt(s['median_db_x'])} "
                         f"| {_fmt(s['median_snr_db'])} | {s['steps']} | {_fmt(s['seconds'], 0)} |")
    return "\n".join(lines)


def evasion_rows(evaluation: AdaptiveEvaluation) -> list[dict[str, Any]]:
    """Per adaptive stage, source and detector: how often the adaptive attacker evades, and at what size.

    ``evaded`` counts attacked clips whose adversarial fooled the recogniser *and* scored at or above the
    detector's clean-calibrated threshold; ``median_snr_db``/``median_db_x`` are over those. ``within_budget``
    counts the evading clips whose perturbation (dB_x, L∞) is no larger than the non-adaptive attack's on the
    same clip (:data:`~synthcheck.attacks.kinds.REFERENCE_KIND`) — the evasion rate at the non-adaptive attack's budget (a clip the
    non-adaptive attack did not break has no budget).
    """
    by_clip = {(row["stage"], row["source"], row["key"]): row for row in evaluation.items}
    rows = []
    for stage, reference in REFERENCE_KIND.items():
        if stage not in evaluation.stages:
            continue
        for source, summary in evaluation.stages[stage].items():
            items = [r for r in evaluation.items if r["stage"] == stage and r["source"] == source]
            for config in dict.fromkeys(name for r in items for name in r["evades"]):
                evading = [r for r in items if r["evades"].get(config)]
                budget = [by_clip.get((reference, source, r["key"]), {}).get("db_x", -math.inf) for r in evading]
                rows.append({
                    "stage": stage, "source": source, "detector": config, "n": summary["n"], "evaded": len(evading),
                    "within_budget": sum(r["db_x"] <= b for r, b in zip(evading, budget, strict=True)),
                    "median_db_x": _median([r["db_x"] for r in evading]),
                    "median_snr_db": _median([r["snr_db"] for r in evading]),
                })
    return rows


def evasion_table(evaluation: AdaptiveEvaluation) -> str:
    """Markdown table of :func:`evasion_rows`."""
    lines = ["| stage | source | detector | evaded | within the non-adaptive budget | median dB_x | median SNR dB |",
             "|---|---|---|---|---|---|---|"]
    for r in evasion_rows(evaluation):
        lines.append(f"| {r['stage']} | {r['source']} | {r['detector']} | {r['evaded']}/{r['n']} "
                     f"| {r['within_budget']}/{r['n']} | {_fmt(r['median_db_x'])} | {_fmt(r['median_snr_db'])} |")
    return "\n".join(lines)


def theorem13_table(evaluation: AdaptiveEvaluation) -> str:
    """Markdown table of the Theorem 1.3 estimates per attacked clip."""
    lines = ["| stage | source | clip | target | r | min ‖c−x‖ | bound | bound as SNR dB |", "|---|---|---|---|---|---|---|---|"]
    for stage, per_source in evaluation.theorem13.items():
        for source, b in per_source.items():
            for row in b["items"]:
                snr = "vacuous (≤ 0)" if row["bound_snr_db"] is None else f"{row['bound_snr_db']:.1f}"
                lines.append(f"| {stage} | {source} | {row['key']} | {row['target']} | {b['radius']:.3f} "
                             f"| {row['distance']:.3f} | {row['bound']:.3f} | {snr} |")
    return "\n".join(lines)


def _fitted_distance(rendering: np.ndarray, x: np.ndarray) -> float:
    """``‖x − α·c(· − lag)‖`` with lag and gain fitted by least squares (:func:`fitted_snr_db`)."""
    fit = fitted_snr_db(rendering, x)
    x64, c = x.astype(np.float64), rendering.astype(np.float64)
    lo, hi = max(0, -fit.lag), min(c.size, x.size - fit.lag)
    residual = x64.copy()
    residual[lo + fit.lag : hi + fit.lag] -= fit.alpha * c[lo:hi]
    return float(np.linalg.norm(residual))


def _save_results(path: Path, results: list[AttackResult]) -> None:
    arrays = {f"adv{i}": r.adversarial for i, r in enumerate(results)} | {f"orig{i}": r.original for i, r in enumerate(results)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    atomic_write_bytes(path.with_suffix(".json"), json.dumps([r.to_dict() for r in results]).encode())


def _load_results(path: Path) -> list[AttackResult]:
    summaries = json.loads(path.with_suffix(".json").read_text())
    with np.load(path) as arrays:
        out = []
        for i, s in enumerate(summaries):
            fields = {k: (math.inf if v is None and k in ("db_x", "snr_db", "fitted_snr_db") else v)
                      for k, v in s.items() if k not in ("n_samples", "sample_rate")}
            out.append(AttackResult(adversarial=arrays[f"adv{i}"], original=arrays[f"orig{i}"], **fields))
        return out


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


