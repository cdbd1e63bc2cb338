"""Image sub-commands: ``train-images`` (the CNN and the class-conditional generator of a dataset), and the
image half of ``detect`` (:func:`detect_images`, called by :mod:`synthcheck.cli.guard` for ``--dataset``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from synthcheck.cli.progress import PlainProgressLines
from synthcheck.errors import BadInputError
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


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"
