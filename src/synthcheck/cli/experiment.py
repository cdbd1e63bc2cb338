"""``synthcheck reproduce``, ``sweep`` and ``report``: the paper's experiment, grids of it, and its report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from synthcheck.asr.precision import PRECISION_HELP
from synthcheck.errors import BadInputError
from synthcheck.cli.progress import PlainProgressLines
from synthcheck.experiments.config import ExperimentConfig, read_config_file, read_sentences_file
from synthcheck.experiments.executors import DEFAULT_THREADS, EXECUTORS, make_executor
from synthcheck.experiments.metrics import DetectorMetrics
from synthcheck.experiments.pipeline import CHECKPOINT_SECONDS, ExperimentRun
from synthcheck.experiments.sources import EXPERIMENT_DATASETS
from synthcheck.experiments.sweep import parse_float_list, parse_list
from synthcheck.images.data import IMAGE_DATASETS

#: Root of the default run directories (``runs/<name>``), relative to the working directory.
RUNS_ROOT = Path("runs")
_STAGE_LABELS = {
    "speech": {"clean": "stage 1: TTS, channel, ASR, detect", "attack": "stage 2: attack, detect"},
    "images": {"clean": "stage 1: classify, decompress, compare", "attack": "stage 2: attack, decompress, compare"},
}


def register(app: typer.Typer) -> None:
    """Add ``reproduce``, ``sweep`` and ``report`` to ``app``."""
    app.command("reproduce")(reproduce)
    app.command("sweep", help="Same as reproduce; meant for grids: --snr 20,28,40 --voice en-US,en-GB.")(reproduce)
    app.command("report")(report)


# Options (None = keep the config file's / default value).
_QUICK = typer.Option(False, "--quick", help="Small run: 3 sentences, whisper-tiny.en, 150 attack steps.")
_RUN_DIR = typer.Option(None, "--run-dir", help="Results directory (default runs/paper, runs/quick, ...).")
_JSON = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")
_CONFIG = typer.Option(None, "--config", help="Config file (.json, or TOML otherwise); flags override it.")
_SENTENCES = typer.Option(None, "--sentences", help="Sentences file, one per line (default: the paper's ten).")
_ENGINE = typer.Option(None, "--engine", help="TTS engine (pico2wave, espeak-ng, flite).")
_ATTENUATION = typer.Option(None, "--attenuation", help="Channel gain before the noise, in (0, 1].")
_RECOGNIZER = typer.Option(None, "--recognizer", "--asr", help="whisper-base, whisper-tiny.en or pocketsphinx.")
_TARGET = typer.Option(None, "--target", help="Attack target transcript.")
_PRECISION = typer.Option(None, "--precision", help=PRECISION_HELP + " Default auto.")
_ATTACKS = typer.Option(None, "--attacks", help="Comma-separated attack kinds, one sweep cell each (default targeted): "
                        "targeted, small-edit, adaptive-likelihood, adaptive-xcorr, adaptive-dtw, adaptive-combined, "
                        "adaptive-align, adaptive-likelihood-align, adaptive-smoothed.")
_STEPS = typer.Option(None, "--steps", help="Attack optimisation steps.")
_BATCH = typer.Option(None, "--batch-size", help="Items per batched attack call.")
_STOP = typer.Option(None, "--stop-db-x", help="Stop a batch's attack once every item succeeded at or below this dB_x (default -45).")
_THRESHOLD = typer.Option(None, "--threshold",
                          help="Threshold of the primary detector (default: its calibrated one; paper: 0.4).")
_DATASET = typer.Option(None, "--dataset", help=f"Source speech: {', '.join(EXPERIMENT_DATASETS)} (default tts: "
                        "render the sentences; the recorded sets are human speech); or an image dataset, "
                        f"{', '.join(IMAGE_DATASETS)}: the image experiment (see docs/images.md).")
_IMAGES = typer.Option(None, "--images", help="Image runs: evaluation test images (default 200; --quick 16).")
_DETECTORS = typer.Option(None, "--detectors", help="Comma-separated detector configurations scoring every item, "
                          "the first is primary (default: paper, then the original code's seed-corrcoef, "
                          "seed-xcorrelation, seed-stretched and xcorr-template), e.g. paper,dtw,likelihood.")
_VOICE = typer.Option(None, "--voice", help="TTS voice (pico2wave: en-US, en-GB); a comma-separated list sweeps.")
_CHANNEL = typer.Option(None, "--channel", help="awgn: the paper's AWGN after attenuation; room: simulated small room "
                        "(loudspeaker, image-source reverberation, microphone, background noise at --snr).")
_SNR = typer.Option(None, "--snr", help="Channel SNR in dB (paper: 28); a comma-separated list sweeps, e.g. 20,28,40.")
_SEED = typer.Option(None, "--seed", help="Root seed (per-item seeds derive from it).")
_EXECUTOR = typer.Option("local", "--executor", help=f"Where items run: {', '.join(EXECUTORS)}.")
_THREADS = typer.Option(DEFAULT_THREADS, "--threads", help="Torch threads per task on every executor; results are "
                        "identical across executors for one count, not across counts (docs/determinism.md).")
_ADDRESS = typer.Option(None, "--address", help="Address of an existing Ray cluster (with --executor ray).")
_NEW = typer.Option(False, "--new", help="Wipe the run directory and start over.")
_FORCE = typer.Option(False, "--force", help="Continue a run whose stored config differs (finished items are kept).")
_CLEAN_ONLY = typer.Option(False, "--clean-only", help="Skip the attack stage (study false positives only).")
_CHECKPOINT_EVERY = typer.Option(CHECKPOINT_SECONDS, "--checkpoint-every", help="Seconds between attack checkpoints "
                                 "(a kill loses at most this much of a batch's attack; 0: after every step).")


def reproduce(
    quick: bool = _QUICK,
    run_dir: Path | None = _RUN_DIR,
    as_json: bool = _JSON,
    config_file: Path | None = _CONFIG,
    sentences: Path | None = _SENTENCES,
    engine: str | None = _ENGINE,
    voice: str | None = _VOICE,
    snr: str | None = _SNR,
    channel: str | None = _CHANNEL,
    attenuation: float | None = _ATTENUATION,
    recognizer: str | None = _RECOGNIZER,
    precision: str | None = _PRECISION,
    target: str | None = _TARGET,
    attacks: str | None = _ATTACKS,
    steps: int | None = _STEPS,
    batch_size: int | None = _BATCH,
    stop_db_x: float | None = _STOP,
    threshold: float | None = _THRESHOLD,
    dataset: str | None = _DATASET,
    detectors: str | None = _DETECTORS,
    images: int | None = _IMAGES,
    seed: int | None = _SEED,
    executor: str = _EXECUTOR,
    address: str | None = _ADDRESS,
    threads: int = _THREADS,
    new: bool = _NEW,
    force: bool = _FORCE,
    clean_only: bool = _CLEAN_ONLY,
    checkpoint_every: float = _CHECKPOINT_EVERY,
) -> None:
    """Run (or resume) the paper's speech experiment and write a self-contained HTML report.

    Lists of voices, SNRs or attack kinds (``--snr 20,28,40 --voice en-US,en-GB``,
    ``--attacks targeted,adaptive-likelihood``) run the grid as one sweep with one combined report and metrics
    per cell; ``synthcheck sweep`` is the same command. ``--dataset mnist`` (or ``fashion-mnist``) runs the image
    experiment instead (``--images``, ``--attacks``, ``--detectors``, ``--steps``, ``--batch-size``, ``--seed``).
    """
    if dataset in IMAGE_DATASETS:
        from synthcheck.cli.images import image_config

        speech_only = {"--sentences": sentences, "--engine": engine, "--voice": voice, "--snr": snr,
                       "--channel": channel, "--attenuation": attenuation, "--recognizer": recognizer,
                       "--precision": precision, "--target": target, "--stop-db-x": stop_db_x, "--threshold": threshold}
        config = image_config(quick, config_file, speech_only, dataset=dataset, images=images,
                              attacks=None if attacks is None else parse_list(attacks, name="attacks"),
                              detectors=_detector_list(detectors), attack_steps=steps, attack_batch_size=batch_size,
                              seed=seed)
        _run(config, run_dir or RUNS_ROOT / (f"{dataset}-quick" if quick else dataset), as_json, executor, address,
             new, force, clean_only, checkpoint_every, threads)
        return
    if images is not None:
        raise BadInputError("--images is an option of image runs (--dataset mnist or fashion-mnist)")
    config = _build_config(
        quick, config_file, sentences, tts_engine=engine,
        voices=None if voice is None else parse_list(voice, name="voice"),
        snr_dbs=None if snr is None else parse_float_list(snr, name="snr"),
        channel=channel, attenuation=attenuation, recognizer=recognizer, precision=precision, target=target,
        attack_steps=steps,
        attacks=None if attacks is None else parse_list(attacks, name="attacks"), attack_batch_size=batch_size, attack_stop_db_x=stop_db_x, threshold=threshold, seed=seed, dataset=dataset,
        detectors=_detector_list(detectors),
    )
    _run(config, run_dir or _default_run_dir(config, quick), as_json, executor, address, new, force, clean_only,
         checkpoint_every, threads)


def report(
    run_dir: Path = typer.Argument(..., help="A run directory (holds results.sqlite)."),
    as_json: bool = _JSON,
    markdown: bool = typer.Option(False, "--markdown", help="Print the detector and per-sentence tables as Markdown."),
) -> None:
    """Rebuild report.html (and the PNG plots) of a run from its results store."""
    from synthcheck.experiments.domains import read_run
    from synthcheck.report.markdown import run_markdown

    run = read_run(run_dir)
    path = _write_report(run)
    if not isinstance(run, ExperimentRun):
        if markdown:
            raise BadInputError("--markdown is for speech runs; an image run's tables are in its report.html")
        _render(run, path, as_json)
        return
    if markdown:
        typer.echo(run_markdown(run.config, run.rows, run.detector_metrics), nl=False)
        return
    _render(run, path, as_json)


def _detector_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else parse_list(text, name="detectors")


def _build_config(quick: bool, config_file: Path | None, sentences: Path | None, **flags: Any) -> ExperimentConfig:
    """Defaults (paper or ``--quick``, whose sentences come from the chosen dataset) < config file < flags."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(read_config_file(config_file))
    if sentences is not None:
        values["sentences"] = read_sentences_file(sentences)
    values.update({k: v for k, v in flags.items() if v is not None})
    config = ExperimentConfig.quick(**values) if quick else ExperimentConfig.from_dict(values)
    from synthcheck.tts import get_synthesizer

    for voice in config.voices:  # an unknown engine or voice fails now, not after the first items ran
        get_synthesizer(config.tts_engine, voice)
    return config


def _default_run_dir(config: ExperimentConfig, quick: bool) -> Path:
    """``runs/quick`` or ``runs/paper`` for the stock settings, ``runs/<that>-<hash>`` otherwise (``sweep-<hash>``
    for a grid of several voices, SNRs or attacks)."""
    name = "quick" if quick else "paper"
    if len(config.voices) * len(config.snr_dbs) * len(config.attacks) > 1:
        return RUNS_ROOT / f"sweep-{config.config_hash()[:8]}"
    stock = ExperimentConfig.quick() if quick else ExperimentConfig()
    return RUNS_ROOT / (name if config == stock else f"{name}-{config.config_hash()[:8]}")


def _run(config: Any, run_dir: Path, as_json: bool, executor_name: str, address: str | None,
         new: bool, force: bool, clean_only: bool, checkpoint_every: float, threads: int) -> None:
    """Run a speech or image config through the one driver with progress bars, then report and render it."""
    from synthcheck.experiments.pipeline import run_experiment

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
               TimeElapsedColumn(), TimeRemainingColumn())
    # The bars start with the first progress report: an error before any work (a bad store, a held lock) is
    # then the only line on stderr.
    bars = Progress(*columns, console=console)
    tasks: dict[str, TaskID] = {}
    lines = PlainProgressLines(console)
    labels = _STAGE_LABELS[config.domain]

    def show(stage: str, completed: float, total: float) -> None:
        if not tasks:
            bars.start()
        if stage not in tasks:
            tasks[stage] = bars.add_task(labels[stage], total=total)
        bars.update(tasks[stage], completed=completed, total=total)
        lines.update(labels[stage], completed, total)

    stages = ("clean",) if clean_only else ("clean", "attack")
    try:
        with make_executor(executor_name, address, threads) as executor:
            run = run_experiment(config, run_dir, executor=executor, new=new, force=force, progress=show,
                                 stages=stages, checkpoint_seconds=checkpoint_every)
    finally:
        if tasks:
            bars.stop()
    if not as_json:
        attacked = sum(n for stage, n in run.computed.items() if stage != "clean")
        console.print(f"computed {run.computed['clean']} clean and {attacked} attacked items "
                      f"(the rest were already in {escape(str(run_dir))}); writing the report")
    _render(run, _write_report(run), as_json)


def _write_report(run: Any) -> Path:
    """The run's report.html (speech or image run)."""
    if isinstance(run, ExperimentRun):
        from synthcheck.report import write_report

        return write_report(run)
    from synthcheck.report.images_report import write_image_report

    return write_image_report(run)


def _render(run: Any, report_path: Path, as_json: bool) -> None:
    if not isinstance(run, ExperimentRun):
        from synthcheck.cli.images import render_image_run

        render_image_run(run, report_path, as_json)
        return
    metrics, detectors, config, run_dir, wall_seconds = (run.metrics, run.detector_metrics, run.config, run.run_dir,
                                                         run.wall_seconds)
    if as_json:
        summary = {k: v for k, v in metrics.to_dict().items() if not k.startswith("roc_")}
        summary.update(
            dataset=config.dataset, channel=config.channel,
            detectors=[_detector_summary(d) for d in detectors],
            report=str(report_path), run_dir=str(run_dir), wall_seconds=wall_seconds,
        )
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"synthcheck: {escape(str(run_dir))}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("items", str(metrics.n_items)),
        ("attack success", f"{metrics.n_attack_success}/{metrics.n_attacked}"),
        ("detection rate (successful attacks)", _pct(metrics.detection_rate)),
        ("false-positive rate (clean)", _pct(metrics.false_positive_rate)),
        ("clean misrecognised / of them flagged",
         f"{metrics.n_clean_misrecognized} / {metrics.false_positives_misrecognized}"),
        ("AUC", _fmt(metrics.auc, 3)),
        ("median SNR of successful attacks", _fmt(metrics.median_snr_db, 1, " dB")),
        ("median dB_x of successful attacks", _fmt(metrics.median_db_x, 1)),
        ("wall time", f"{wall_seconds:.0f} s"),
    ]
    rows[:0] = [("dataset", config.dataset), ("channel", config.channel)]
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    console.print(_detector_table(detectors))
    console.print(f"report: {report_path}", markup=False)


def _detector_summary(detector: DetectorMetrics) -> dict[str, Any]:
    """``detector.to_dict()`` without the score lists (the run's store keeps them)."""
    row = detector.to_dict()
    row["calibrated"] = {k: v for k, v in row["calibrated"].items() if not k.endswith("_scores")}
    return row


def _detector_table(detectors: list[DetectorMetrics]) -> Table:
    table = Table(title="detectors (the first is primary)")
    for name in ("detector", "dataset", "threshold", "detection rate", "FPR", "flags exact / misrecognised", "AUC",
                 "FPR at 5 % calibrated (LOO)"):
        table.add_column(name, justify="left" if name in ("detector", "dataset") else "right")
    for d in detectors:
        table.add_row(d.detector, d.cell, _fmt(d.threshold, 3),
                      _pct(d.detection_rate), _pct(d.false_positive_rate),
                      f"{d.flagged_exact}/{d.n_clean_exact} · {d.flagged_misrecognized}/{d.n_clean_misrecognized}",
                      _fmt(d.calibrated.auc, 3), _pct(d.calibrated.fpr_loo))
    return table


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.0f} %"


def _fmt(value: float, digits: int, unit: str = "") -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}{unit}"
