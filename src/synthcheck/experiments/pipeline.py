"""The one experiment driver (:func:`run_experiment`), and the paper's speech experiment on it, resumable.

The driver knows stages, batches, the store, checkpoints and executors; what an item *is* comes from the
config's plan (:func:`~synthcheck.experiments.domains.experiment_plan`): :class:`SpeechPlan` below for speech,
:class:`synthcheck.images.experiment.ImagePlan` for images. A plan makes the tasks of both stages and names
the module-level workers that run them; everything below about resuming holds for every domain.

For every item (sentence s, voice, SNR; see :meth:`ExperimentConfig.items`):

Stage 1, ``clean`` (one task and one commit per item)
    x = TTS(s) (or, for a recorded dataset, the recording of s); y1 = channel(x), the config's channel
    (AWGN after attenuation, or the simulated room, then 16 bits: :func:`synthcheck.audio.channel.channel_for`) at
    the item's SNR, noise drawn from the item's own generator; t1 = ASR(y1); rho1 = rho_max(TTS(t1), y1); WER(s, t1).
    Stored: clean.wav (x), channel.wav (y1), clean_resynth.wav (TTS(t1)).

Stage 2, one per attack kind of ``config.attacks`` (one task per batch of the attacked items, one commit per
item when its batch finishes)
    y2 = attack on y1 toward the item's target (one batched call, :data:`synthcheck.attacks.kinds.ATTACK_KINDS`:
    the paper's targeted attack by default, or small-edit / adaptive kinds; the attack's own greedy decode
    of the 16-bit y2 is t2 = ASR(y2)); rho2 = rho_max(TTS(t2), y2); WER(target, t2), WER(s, t2); dB_x and
    SNR of y2 against its perturbation. Stored: adversarial.wav, adversarial_resynth.wav (other kinds than
    the paper's ``targeted``: prefixed with the kind, e.g. small-edit-adversarial.wav).

Every rho above is the primary detector's (the first of ``config.detectors``; the paper's check by
default); every configured detector judges the same audio and transcript, and each one's verdict is part of
the stage result (:class:`~synthcheck.experiments.results.DetectorScore`). Stage results are the typed
:class:`~synthcheck.experiments.results.CleanResult` and :class:`~synthcheck.experiments.results.AttackOutcome`.

Batches are fixed chunks of the config's attacked items, so a rerun forms the same batches; the attack seed
derives from the root seed and the batch's item keys, stage-1 noise from the root seed and the item key.
Every task runs on the executor's fixed torch thread count (stored with the run's versions, beside the CPU).
Results therefore do not depend on which executor ran them or in which order (docs/determinism.md).

Workers compute and return arrays; this driver writes the audio (atomically) and then commits the row.
A kill at any point loses at most the items in flight (stage 1) or, in stage 2, the steps since the batch's
last checkpoint (``<run dir>/checkpoints/<batch>.pt``, saved every ``checkpoint_seconds``; see
:mod:`synthcheck.attacks.checkpoint`), deleted once the batch's rows are committed; rerunning the same
command skips what is committed and resumes the batch bit-identically. A batch with some rows committed is
recomputed whole (from its checkpoint) and only its missing rows are committed, so results never depend on
where a kill fell. One process at a time writes a run directory (:mod:`synthcheck.experiments.lock`); a
failed write (disk full, read-only) stops the run with a :class:`~synthcheck.errors.StorageError`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.cache import content_key
from synthcheck.errors import BadInputError, SynthcheckError
from synthcheck.experiments.config import ExperimentConfig, ItemSpec
from synthcheck.experiments.executors import Executor, LocalExecutor
from synthcheck.experiments.lock import RunLock
from synthcheck.experiments.machine import cpu_facts
from synthcheck.experiments.metrics import DetectorMetrics, ExperimentMetrics, compute_metrics, detector_metrics
from synthcheck.experiments.results import AttackOutcome, CleanResult, DetectorScore, ItemRecord, ResultRow, StageResult, result_rows
from synthcheck.experiments.sources import TTS_DATASET, dataset_audio
from synthcheck.experiments.store import CHECKPOINT_DIR, CLEAN_STAGE, PIPELINE_STAGES, ResultsStore

log = logging.getLogger(__name__)

#: ``progress(stage, completed, total)``; attack progress counts item-steps.
ProgressCallback = Callable[[str, float, float], None]
#: Default seconds between attack checkpoints (a kill loses at most this much of a batch's attack).
CHECKPOINT_SECONDS = 10.0
_PACKAGES = ("synthcheck", "numpy", "scipy", "torch", "openai-whisper", "pocketsphinx", "jiwer", "ray")


@dataclass
class ItemStageResult:
    """One item's result of one stage, as a worker returns it: the typed result and the audio to store."""

    key: str
    result: StageResult
    audio: dict[str, np.ndarray]


@dataclass
class CleanTask:
    """Stage-1 work for one item."""

    config: ExperimentConfig
    spec: ItemSpec


@dataclass
class AttackTask:
    """Stage-2 work for one batch of one attack kind: the items and their committed channel outputs y1."""

    config: ExperimentConfig
    kind: str
    specs: list[ItemSpec]
    channel_audio: list[np.ndarray]
    seed: int
    #: Checkpoint file of the batch's attack (a path string crosses process boundaries), None: no checkpoint.
    checkpoint: str | None = None
    #: Seconds between checkpoints (0: every step).
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    #: Per-step callback (local executor only; it does not cross process boundaries).
    on_step: Callable[[Any], None] | None = field(default=None, repr=False)


@dataclass
class ExperimentRun:
    """The outcome of :func:`run_experiment` (or of reading a stored run, :meth:`from_store`): where it is
    stored, what it holds, what it means. The report renders this object as it is.

    ``rows`` has one :class:`~synthcheck.experiments.results.ResultRow` per (attack kind, item);
    ``computed`` counts the stage results computed in this call (``clean`` and each attack kind).
    """

    run_dir: Path
    config: ExperimentConfig
    versions: dict[str, str]
    records: list[ItemRecord]
    rows: list[ResultRow]
    metrics: ExperimentMetrics
    detector_metrics: list[DetectorMetrics]
    wall_seconds: float
    computed: dict[str, int]

    @classmethod
    def from_store(cls, store: ResultsStore, computed: dict[str, int] | None = None) -> ExperimentRun:
        """The run a store holds, with its metrics."""
        config = store.config()
        records = store.records()
        rows = result_rows(records, config.attacks)
        return cls(run_dir=store.run_dir, config=config, versions=store.versions(), records=records, rows=rows,
                   metrics=compute_metrics(rows, config.threshold),
                   detector_metrics=detector_metrics(rows, config.detectors),
                   wall_seconds=store.wall_seconds(), computed=computed or {})

    @classmethod
    def read(cls, run_dir: str | Path) -> ExperimentRun:
        """Open a stored run directory (for reports) and return its run."""
        with ResultsStore.read(run_dir) as store:
            return cls.from_store(store)


def run_experiment(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    new: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
    stages: Sequence[str] = PIPELINE_STAGES,
    checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
) -> ExperimentRun:
    """Run (or resume) the experiment of ``config`` in ``run_dir``.

    Parameters
    ----------
    executor
        Where tasks run (default: :class:`LocalExecutor`).
    new, force
        Start over / continue despite a changed config (see :meth:`ResultsStore.open`).
    progress
        Called as work completes, from this process.
    stages
        Stages to run: both by default; ``("clean",)`` skips the attack (a false-positive study).
    checkpoint_seconds
        Seconds between attack checkpoints (0: every step; None: no checkpoints).

    Raises
    ------
    RunDirectoryBusyError
        Another live process is writing ``run_dir``.
    StorageError
        A result could not be written (disk full, read-only); what was committed stays and a rerun resumes.

    Returns
    -------
    ExperimentRun
        Records and metrics of every item in the store; ``computed`` counts items computed in this call.
    """
    unknown = sorted(set(stages) - set(PIPELINE_STAGES))
    if unknown:
        raise BadInputError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(PIPELINE_STAGES)}")
    if checkpoint_seconds is not None:
        from synthcheck.attacks.checkpoint import check_interval  # torch: imported only when a run starts

        check_interval(checkpoint_seconds)  # before the lock and any work
    from synthcheck.experiments.domains import experiment_plan

    plan = experiment_plan(config)
    if "attack" in stages:
        plan.check_attacks()
    with RunLock.acquire(run_dir):
        return _run_locked(plan, run_dir, executor or LocalExecutor(), new, force,
                           progress or (lambda stage, done, total: None), stages, checkpoint_seconds)


def _run_locked(plan: Any, run_dir: str | Path, executor: Executor, new: bool, force: bool,
                report: ProgressCallback, stages: Sequence[str], checkpoint_seconds: float | None) -> Any:
    versions = {**plan.versions(), "torch_threads": str(executor.threads)}
    store = ResultsStore.open(run_dir, plan.config, versions, new=new, force=force)
    try:
        computed = {CLEAN_STAGE: _run_clean_stage(store, plan, executor, report)}
        if "attack" in stages:
            computed.update(_run_attack_stages(store, plan, executor, report, checkpoint_seconds))
        return plan.run(store, computed)
    finally:
        store.close()


def _run_clean_stage(store: ResultsStore, plan: Any, executor: Executor, report: ProgressCallback) -> int:
    specs = {s.key: s for s in plan.config.items()}
    pending = store.pending(CLEAN_STAGE, specs)
    total, done = len(specs), len(specs) - len(pending)
    report("clean", done, total)
    if not pending:
        return 0
    store.mark_started(CLEAN_STAGE, pending)
    tasks = [plan.clean_task(specs[key]) for key in pending]
    clock = _Clock()
    for _, output in executor.map_unordered(plan.clean_worker, tasks):
        store.commit(CLEAN_STAGE, output.key, output.result, output.audio, elapsed=clock.lap())
        done += 1
        report("clean", done, total)
    return len(pending)


def _run_attack_stages(store: ResultsStore, plan: Any, executor: Executor, report: ProgressCallback,
                       checkpoint_seconds: float | None) -> dict[str, int]:
    """Every attack kind of the plan's config on its attacked items (progress counts item-steps over all kinds)."""
    config = plan.config
    specs = config.attacked_items()
    steps = config.attack_steps
    total = len(specs) * steps * len(config.attacks)
    done = float(total)
    clean = {r.spec.key: r.clean for r in store.records()}
    tasks, todo = [], {kind: set() for kind in config.attacks}
    for kind in config.attacks:
        for i in range(0, len(specs), config.attack_batch_size):
            batch = specs[i : i + config.attack_batch_size]
            keys = [s.key for s in batch]
            pending = store.pending(kind, keys)
            if not pending:
                continue
            todo[kind].update(pending)
            done -= len(pending) * steps
            checkpoint = None if checkpoint_seconds is None else _checkpoint_path(store.run_dir, config, kind, keys)
            tasks.append(plan.attack_task(store, kind, batch, [clean[key] for key in keys], attack_seed(config, keys),
                                          checkpoint, checkpoint_seconds or 0.0))
    _remove_stale_checkpoints(store.run_dir, {t.checkpoint for t in tasks})
    report("attack", done, total)
    if not tasks:
        return {kind: 0 for kind in config.attacks}
    if isinstance(executor, LocalExecutor):  # batches run in order here: show per-step progress
        base = done
        for task in tasks:
            n_todo = sum(s.key in todo[task.kind] for s in task.specs)
            task.on_step = lambda p, base=base, n=n_todo: report("attack", base + p.step * n, total)
            base += n_todo * steps
    for kind in config.attacks:
        store.mark_started(kind, [s.key for t in tasks if t.kind == kind for s in t.specs if s.key in todo[kind]])
    clock = _Clock()
    for index, outputs in executor.map_unordered(plan.attack_worker, tasks):
        kind = tasks[index].kind
        new_outputs = [output for output in outputs if output.key in todo[kind]]
        for output in new_outputs:
            store.commit(kind, output.key, output.result, output.audio, elapsed=clock.lap())
        if tasks[index].checkpoint is not None:
            Path(tasks[index].checkpoint).unlink(missing_ok=True)
        done += len(new_outputs) * steps
        report("attack", done, total)
    return {kind: len(keys) for kind, keys in todo.items()}


def _checkpoint_path(run_dir: Path, config: Any, kind: str, keys: Sequence[str]) -> str:
    """The checkpoint file of the ``kind`` attack batch of ``keys`` under ``config``."""
    return str(run_dir / CHECKPOINT_DIR / f"{content_key(config.config_hash(), kind, *keys)[:16]}.pt")


def _remove_stale_checkpoints(run_dir: Path, keep: set[str | None]) -> None:
    """Delete checkpoints of batches that are no longer pending (or of another config, after ``--force``)."""
    for path in (run_dir / CHECKPOINT_DIR).glob("*.pt"):
        if str(path) not in keep:
            log.info("removing the stale attack checkpoint %s", path)
            path.unlink(missing_ok=True)


def _require_gradients(config: ExperimentConfig) -> None:
    """Fail before any work (and without loading a model) if a white-box attack of ``config`` cannot run on its
    recogniser (the random-noise search needs no gradients)."""
    from synthcheck.asr.base import no_gradients_error
    from synthcheck.asr.registry import RECOGNIZER_CONFIGS
    from synthcheck.attacks.kinds import ATTACK_KINDS

    white_box = [kind for kind in config.attacks if not ATTACK_KINDS[kind].random]
    if white_box and not RECOGNIZER_CONFIGS[config.recognizer].differentiable:
        raise no_gradients_error(config.recognizer, f"the {white_box[0]} attack",
                                 ", or skip the attack with --clean-only")


class _Clock:
    """Driver wall time between commits (summed into the run's wall time)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        return elapsed


def attack_seed(config: Any, keys: Sequence[str]) -> int:
    """Seed of one attack batch, derived from the root seed and the batch's item keys."""
    return config.item_seed("\x1f".join(keys))


class SpeechPlan:
    """The speech experiment's parts for the one driver: its tasks, its workers and its run summary.

    Stage 1 is :func:`run_clean_item` per item; stage 2 attacks the committed channel outputs y1 (read back from
    the store) with :func:`run_attack_batch`; the run is an :class:`ExperimentRun`.
    """

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config

    @property
    def clean_worker(self) -> Callable[[CleanTask], ItemStageResult]:
        return run_clean_item

    @property
    def attack_worker(self) -> Callable[[AttackTask], list[ItemStageResult]]:
        return run_attack_batch

    def check_attacks(self) -> None:
        """Fail before any work if a white-box attack of the config cannot run on its recogniser."""
        _require_gradients(self.config)

    def versions(self) -> dict[str, str]:
        return collect_versions(self.config)

    def clean_task(self, spec: ItemSpec) -> CleanTask:
        return CleanTask(self.config, spec)

    def attack_task(self, store: ResultsStore, kind: str, specs: list[ItemSpec], clean: list[CleanResult],
                    seed: int, checkpoint: str | None, checkpoint_seconds: float) -> AttackTask:
        channel = [store.read_array(result.audio["channel"]) for result in clean]
        return AttackTask(self.config, kind, specs, channel, seed, checkpoint=checkpoint,
                          checkpoint_seconds=checkpoint_seconds)

    def run(self, store: ResultsStore, computed: dict[str, int]) -> ExperimentRun:
        return ExperimentRun.from_store(store, computed)


# --- worker side ---------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _detector(config: ExperimentConfig, name: str, voice: str, threshold: float | None) -> Any:
    from synthcheck.asr import get_recognizer
    from synthcheck.detect.configs import PAPER_VOICE

    detector = config.detector_config(name)
    if detector.voices == (PAPER_VOICE,) and detector.speeds == (1.0,):
        # single-voice configurations re-synthesise in the item's voice, as the paper does
        detector = replace(detector, voices=(f"{config.tts_engine}:{voice}",))
    if detector.name == "paper":
        detector = replace(detector, comparator=f"xcorr-{config.comparator_mode}")
    return detector.build(get_recognizer(config.recognizer), threshold)


def detectors_for(config: ExperimentConfig, voice: str) -> dict[str, Any]:
    """The (per-process cached) :class:`ConsistencyDetector` of each of ``config.detectors``, primary first.

    Single-voice configurations (``paper``, ``xcorr-full``, ``dtw``) re-synthesise with ``voice`` of the
    config's TTS engine; the primary detector uses ``config.threshold``, the others their calibrated ones;
    ``config.comparator_mode`` selects the ``paper`` detector's correlation.
    """
    return {
        name: _detector(config, name, voice, config.threshold if i == 0 else None)
        for i, name in enumerate(config.detectors)
    }


def source_audio(config: ExperimentConfig, spec: ItemSpec) -> np.ndarray:
    """The clean source x of an item: the sentence rendered by TTS, or its utterance in the item's dataset."""
    if spec.dataset == TTS_DATASET:
        from synthcheck.tts import get_synthesizer

        return get_synthesizer(config.tts_engine, spec.voice).synthesize(spec.sentence)
    return dataset_audio(spec.dataset)[spec.sentence]


def check_with_detectors(
    detectors: dict[str, Any], audio: np.ndarray, transcript: str | None = None
) -> tuple[Any, dict[str, DetectorScore]]:
    """The primary detector's verdict on ``audio`` and every detector's score.

    The primary detector transcribes ``audio`` unless ``transcript`` is given; the others judge the same
    transcript (the recogniser runs once).
    """
    primary, *others = detectors.values()
    verdict = primary.check(audio) if transcript is None else primary.check_transcript(audio, transcript)
    verdicts = [verdict, *(d.check_transcript(audio, verdict.transcript) for d in others)]
    return verdict, {name: _detector_score(v) for name, v in zip(detectors, verdicts)}


def run_clean_item(task: CleanTask) -> ItemStageResult:
    """Stage 1 for one item: synthesise (or load), pass through the channel, detect (see the module docstring)."""
    from synthcheck.audio.channel import channel_for
    from synthcheck.audio.metrics import word_error_rate

    start = time.perf_counter()
    config, spec = task.config, task.spec
    x = source_audio(config, spec)
    channel = channel_for(config.channel, snr_db=spec.snr_db, attenuation=config.attenuation)
    y1 = channel.apply(x, config.item_rng(spec.key))
    verdict, scores = check_with_detectors(detectors_for(config, spec.voice), y1)
    result = CleanResult(transcript=verdict.transcript, detectors=scores, input_seconds=y1.size / SAMPLE_RATE,
                         wer=word_error_rate(spec.sentence, verdict.transcript), channel=channel.to_dict(),
                         compute_seconds=time.perf_counter() - start)
    audio = {"clean": x, "channel": y1}
    if verdict.resynthesized is not None:
        audio["clean_resynth"] = verdict.resynthesized
    return ItemStageResult(spec.key, result, audio)


def run_attack_batch(task: AttackTask) -> list[ItemStageResult]:
    """Stage 2 for a batch of one attack kind: one batched attack, then detect on each 16-bit adversarial."""
    from synthcheck.asr import get_recognizer
    from synthcheck.asr.base import white_box_recognizer
    from synthcheck.attacks.base import AttackConfig
    from synthcheck.attacks.checkpoint import AttackCheckpoint
    from synthcheck.attacks.kinds import ATTACK_KINDS
    from synthcheck.audio.metrics import word_error_rate

    config, kind = task.config, ATTACK_KINDS[task.kind]
    settings = AttackConfig(max_steps=config.attack_steps, stop_db_x=config.attack_stop_db_x,
                            time_budget_s=config.attack_time_budget_s, detector_weight=config.detector_weight,
                            seed=task.seed)
    attack = kind.build(white_box_recognizer(get_recognizer(config.recognizer), config.precision), settings)
    criterion = kind.criterion([kind.target(spec.sentence, config.target) for spec in task.specs])
    checkpoint = None if task.checkpoint is None else AttackCheckpoint(Path(task.checkpoint), task.checkpoint_seconds)
    results = attack.run(task.channel_audio, criterion, progress=task.on_step, checkpoint=checkpoint)
    outputs = []
    for spec, attacked in zip(task.specs, results):
        # The attack's confirming greedy decode of the 16-bit y2 is t2 = ASR(y2): no second decode.
        verdict, scores = check_with_detectors(detectors_for(config, spec.voice), attacked.adversarial,
                                               attacked.transcript)
        result = AttackOutcome(
            transcript=verdict.transcript, detectors=scores, input_seconds=attacked.adversarial.size / SAMPLE_RATE,
            success=bool(attacked.success), target=attacked.target,
            wer_target=word_error_rate(attacked.target, verdict.transcript),
            wer_source=word_error_rate(spec.sentence, verdict.transcript), db_x=attacked.db_x,
            snr_db=attacked.snr_db, fitted_snr_db=attacked.fitted_snr_db, linf_bound=attacked.linf_bound,
            l2=float(np.linalg.norm(attacked.adversarial.astype(np.float64) - attacked.original)), noise=attacked.noise,
            steps=attacked.steps, first_success_step=attacked.first_success_step, seconds=attacked.seconds,
        )
        audio = {"adversarial": attacked.adversarial}
        if verdict.resynthesized is not None:
            audio["adversarial_resynth"] = verdict.resynthesized
        outputs.append(ItemStageResult(spec.key, result, audio))
    return outputs


def _detector_score(verdict: Any) -> DetectorScore:
    """What the store keeps of a detector's verdict (``config``: the resolved configuration name)."""
    timings = verdict.timings
    return DetectorScore(score=float(verdict.score), threshold=float(verdict.threshold),
                         consistent=bool(verdict.consistent), reason=verdict.reason, config=verdict.detector,
                         seconds=float(timings["total"]),
                         compare_seconds=float(timings.get("tts", 0.0) + timings.get("compare", 0.0)))


# --- provenance ----------------------------------------------------------------------------------
def collect_versions(config: ExperimentConfig) -> dict[str, str]:
    """Python, package and TTS engine versions to store with a run."""
    return software_versions([f"{config.tts_engine}:{config.voices[0]}"])


def software_versions(voices: Sequence[str] = ()) -> dict[str, str]:
    """Python, platform, the CPU (:func:`.machine.cpu_facts`), the packages that shape results, and the engine
    version of each ``engine:voice``."""
    from synthcheck.tts import synthesizer_from_id

    versions = {"python": platform.python_version(), "platform": platform.platform(), **cpu_facts()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    for voice in voices:
        engine = voice.partition(":")[0]
        try:
            versions[engine] = synthesizer_from_id(voice).engine_version()
        except SynthcheckError as exc:
            log.info("no version for TTS engine %s: %s", engine, exc)
    return versions


__all__ = [
    "AttackTask",
    "CleanTask",
    "ExperimentRun",
    "ItemStageResult",
    "SpeechPlan",
    "attack_seed",
    "check_with_detectors",
    "collect_versions",
    "software_versions",
    "detectors_for",
    "run_attack_batch",
    "run_clean_item",
    "run_experiment",
    "source_audio",
]
