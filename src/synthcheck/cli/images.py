"""Image sub-commands: ``train-images`` (the CNN and the class-conditional generator of a dataset); the image
halves of ``detect`` (:func:`detect_images`, called by :mod:`synthcheck.cli.guard` for ``--dataset``) and of
``reproduce``/``report`` (:func:`image_config`, :func:`render_image_run`, called by :mod:`synthcheck.cli.experiment`)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from synthcheck.cli.progress import PlainProgressLines
from synthcheck.errors import BadInputError, one_line
from synthcheck.images.data import IMAGE_DATASETS


def register(app: typer.Typer) -> None:
    """Add ``train-images`` to ``app``."""
    app.command("train-images")(train_images)


def train_images(
    dataset: str = typer.Option("all", "--dataset", help=f"{', '.join(IMAGE_DATASETS)} or all."),
    seed: int = typer.Option(0, "--seed", help="Training seed (the experiments use the models of seed 0)."),
    as_json: bool = typer.Option(False, "--json", help="Print the model cards as JSON on stdout."),
) -> None:
    """Train (or load from the cache) the CNN and the per-class VAEs of a dataset, and show how good they are.

    Training is seeded and cached under the user cache directory, keyed by the data, the settings and the code;
    every other image command trains on first use, this one does it up front with progress bars.
    """
    from synthcheck.images.training import (ClassifierTraining, GeneratorTraining, model_card, trained_classifier,
                                            trained_generator)

    names = list(IMAGE_DATASETS) if dataset == "all" else [dataset]
    for name in names:
        if name not in IMAGE_DATASETS:
            raise BadInputError(f"unknown image dataset {name!r}; choose one of: {', '.join(IMAGE_DATASETS)} or all")
    console = Console(stderr=True)
    lines = PlainProgressLines(console)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    cards = []
    with Progress(*columns, console=console, transient=True) as bars:
        for name in names:
            tasks: dict[str, int] = {}

            def show(what: str, done: int, total: int, name: str = name, tasks: dict[str, int] = tasks) -> None:
                label = f"{name}: train the {what}"
                if what not in tasks:
                    tasks[what] = bars.add_task(label, total=total)
                bars.update(tasks[what], completed=done, total=total)
                lines.update(label, done, total)

            classifier, generator = ClassifierTraining(seed=seed), GeneratorTraining(seed=seed)
            trained_classifier(name, classifier, show)
            trained_generator(name, generator, show)
            cards += [model_card("classifier", name, classifier), model_card("generator", name, generator)]
    if as_json:
        typer.echo(json.dumps([card.to_dict() for card in cards if card is not None], indent=2))
        return
    table = Table(title="image models (cached)")
    for column in ("dataset", "model", "quality", "trained in", "weights"):
        table.add_column(column, justify="right" if column == "trained in" else "left")
    for card in cards:
        if card is None:
            continue
        quality = (f"test accuracy {100 * card.metrics['test_accuracy']:.2f} %" if card.kind == "classifier"
                   else f"test neg. ELBO {card.metrics['test_negative_elbo']:.1f} nats")
        table.add_row(card.dataset, card.kind, quality, f"{card.seconds:.0f} s", Path(card.path).name)
    Console().print(table)


def image_config(quick: bool, config_file: Path | None, speech_only: dict[str, Any], **flags: Any) -> Any:
    """The image run's config: defaults (or ``--quick``) < config file < flags; a speech-only flag is an error."""
    from synthcheck.experiments.config import read_config_file
    from synthcheck.images.experiment import ImageExperimentConfig

    given = [flag for flag, value in speech_only.items() if value is not None]
    if given:
        raise BadInputError(f"{', '.join(given)}: speech option(s), not for an image run; image runs take --images, "
                            "--attacks, --detectors, --steps, --batch-size and --seed")
    values = {} if config_file is None else read_config_file(config_file, ImageExperimentConfig)
    values.update({k: v for k, v in flags.items() if v is not None})
    return ImageExperimentConfig.quick(**values) if quick else ImageExperimentConfig.from_dict(values)


def render_image_run(run: Any, report_path: Path, as_json: bool) -> None:
    """Print an image run's summary: clean accuracy, accuracy under each attack, detection per stage."""
    metrics = run.metrics
    if as_json:
        summary = {"dataset": run.config.dataset, "images": metrics.n_images,
                   "clean_accuracy": metrics.clean_accuracy, "clean_flagged": metrics.clean_flagged,
                   "radius": metrics.radius,
                   "accuracy": [_json_safe(vars(row)) for row in metrics.accuracy],
                   "detection": [_json_safe(vars(row)) for row in metrics.detection],
                   "ladders": [_json_safe(vars(row)) for row in metrics.ladders],
                   "computed": run.computed, "report": str(report_path), "run_dir": str(run.run_dir),
                   "wall_seconds": run.wall_seconds}
        typer.echo(json.dumps(summary, indent=2))
        return
    console = Console(width=None if sys.stdout.isatty() else 140)  # a log is not cut at 80 columns
    detectors = run.config.detectors
    flagged = ", ".join(f"{name} {_pct(rate)}" for name, rate in metrics.clean_flagged.items())
    console.print(f"{run.config.dataset}: {metrics.n_images} test images, clean accuracy "
                  f"{_pct(metrics.clean_accuracy)}; clean images flagged: {flagged}", markup=False)
    accuracy = Table(title="accuracy under attack (handled: classified correctly or flagged)")
    for column in ("attack", "ε", "classifier", *(f"+ {name}" for name in detectors)):
        accuracy.add_column(column, justify="left" if column == "attack" else "right")
    for row in metrics.accuracy:
        accuracy.add_row(row.stage, f"{row.norm} {row.epsilon:g}", _pct(row.accuracy),
                         *(_pct(row.accuracy_with_detector[name]) for name in detectors))
    console.print(accuracy)
    detection = Table(title="detection of successful attacks")
    for column in ("attack", "detector", "successes", "median L2", "median L∞", "AUC", "detected", "TPR@5%FPR",
                   "evasions", "below bound"):
        detection.add_column(column, justify="left" if column in ("attack", "detector") else "right")
    for row in metrics.detection:
        detection.add_row(row.stage, row.detector, str(row.n_success), _fmt(row.median_l2, 2),
                          _fmt(row.median_linf, 3), _fmt(row.auc), _pct(row.detection_rate), _pct(row.tpr_at_5_fpr),
                          str(row.evasions), str(row.below_bound))
    console.print(detection)
    for norm in dict.fromkeys(ladder.norm for ladder in metrics.ladders):
        ladders = [ladder for ladder in metrics.ladders if ladder.norm == norm]
        budgets = sorted({b for ladder in ladders for b in ladder.budgets})
        table = Table(title=f"perturbation needed to evade ({norm}): evasion rate of correctly classified images")
        for column in ("attack", "detector", *(f"ε {b:g}" for b in budgets), "any ε", "median ε needed"):
            table.add_column(column, justify="left" if column in ("attack", "detector") else "right")
        for ladder in ladders:
            rates = dict(zip(ladder.budgets, ladder.evasion_rates, strict=True))
            table.add_row(ladder.kind, ladder.detector, *(_pct(rates[b]) if b in rates else "" for b in budgets),
                          _pct(ladder.evaded_any), ladder.needed_label)
        console.print(table)
    console.print(f"report: {report_path}", markup=False)


def detect_images(paths: list[Path], dataset: str, detector: str | None, threshold: float | None,
                  as_json: bool) -> None:
    """``detect --dataset``: classify each image file and judge the decision with the image detector.

    One file: its verdict (a bad file is the usual one-line error, exit 2). Several: one line (or JSON line) per
    file, a bad file is an error line on stderr and the batch goes on.
    """
    from synthcheck.images.detector import IMAGE_DETECTORS
    from synthcheck.images.io import load_image

    if dataset not in IMAGE_DATASETS:
        raise BadInputError(f"unknown image dataset {dataset!r}; choose one of: {', '.join(IMAGE_DATASETS)}")
    if not paths:
        raise BadInputError("detect --dataset needs image files (PNG or .npy, 28x28 grey)")
    config = IMAGE_DETECTORS[detector or "evidence"]
    images = [load_image(paths[0])] if len(paths) == 1 else None  # one file: a bad one fails before any model loads
    judge = config.build(dataset, threshold)
    if images is not None:
        verdict = judge.check(images[0])
        if as_json:
            typer.echo(json.dumps({"file": str(paths[0]), **verdict.to_dict()}, indent=2))
        else:
            typer.echo(_verdict_line(paths[0], verdict))
        return
    if as_json:
        raise BadInputError("--json prints one verdict; several files print one JSON line each without it")
    for path in paths:
        try:
            verdict = judge.check(load_image(path))
        except BadInputError as exc:
            typer.echo(f"synthcheck: error: {one_line(str(exc))}", err=True)
            continue
        typer.echo(_verdict_line(path, verdict))


def _verdict_line(path: Path, verdict: Any) -> str:
    state = "consistent" if verdict.consistent else "INCONSISTENT"
    return (f"{path}: {state}  class {verdict.class_name}  {verdict.detector} score {verdict.score:.3f} "
            f"(threshold {verdict.threshold:.3f}, {1000 * verdict.timings.total:.0f} ms)")


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in row.items()}


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.0f} %"


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"
