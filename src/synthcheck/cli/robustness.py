"""``synthcheck robustness``: random noise versus adversarial perturbation, per clause, on a real recogniser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.precision import PRECISION_HELP
from synthcheck.cli.progress import PlainProgressLines, SourceStageBars
from synthcheck.experiments.executors import DEFAULT_THREADS, EXECUTORS

if TYPE_CHECKING:
    from synthcheck.experiments.robustness import RobustnessResult

#: Where robustness runs are stored: ``runs/robustness-<settings hash>/``.
RUNS_ROOT = Path("runs")


def register(app: typer.Typer) -> None:
    """Add the ``robustness`` sub-command to ``app``."""
    app.command("robustness")(robustness)
    app.command("report-robustness")(report_robustness)


def robustness(
    recognizer: str = typer.Option("whisper-tiny.en", "--recognizer", help="whisper-tiny.en or whisper-base."),
    voices: str = typer.Option("pico2wave:en-US,pico2wave:en-GB,espeak-ng:en-us,flite:slt", "--voices",
                               help="Comma-separated engine:voice ids, each a source (empty: none)."),
    human: bool = typer.Option(True, "--human/--no-human", help="Also the LibriVox reading (two-cities-human)."),
    n: int = typer.Option(10, "--n", help="Clauses per source (the paper's ten by default)."),
    sentences: Path | None = typer.Option(None, "--sentences", help="Sentences file (one per line) instead."),
    steps: int = typer.Option(300, "--steps", help="White-box steps per search (the bound keeps shrinking)."),
    targeted: bool = typer.Option(True, "--targeted/--no-targeted", help="Also the paper's targeted attack."),
    detectors: str = typer.Option("paper,likelihood+align", "--detectors", help="Detectors scoring every change."),
    fragility: bool = typer.Option(False, "--fragility", help="Also Theorem 2's ratio at every clause (tiny.en; "
                                   "about 10 s per clause)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise draws and the attacks."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    executor: str = typer.Option("local", "--executor", help=f"Where items run: {', '.join(EXECUTORS)}."),
    address: str | None = typer.Option(None, "--address", help="Address of an existing Ray cluster."),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", help="Torch threads per task."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of tables."),
) -> None:
    """Measure, per clause and voice, the smallest random noise and the smallest adversarial perturbation that
    change the transcript, and their ratio beside sqrt(N/M).

    Each source is a resumable experiment under runs/robustness-<hash>/<source>/; rerunning the command finishes
    what a killed run left. results.json and report.html go into that directory.
    """
    from synthcheck.experiments.config import read_sentences_file
    from synthcheck.experiments.executors import make_executor
    from synthcheck.experiments.robustness import RobustnessSettings, run_robustness
    from synthcheck.experiments.sweep import parse_list

    settings = RobustnessSettings(
        recognizer=recognizer, voices=parse_list(voices, name="voices") if voices.strip() else (), human=human, n=n,
        sentences=() if sentences is None else read_sentences_file(sentences), steps=steps, targeted=targeted,
        detectors=parse_list(detectors, name="detectors"), fragility=fragility, seed=seed,
        precision=precision,
    )
    for config in settings.sources().values():  # an unknown engine or voice fails now, before any work
        config.detector_config(config.primary_detector)
        if config.dataset == "tts":
            from synthcheck.tts import get_synthesizer

            get_synthesizer(config.tts_engine, config.voices[0])
    work_dir = RUNS_ROOT / f"robustness-{settings.key()}"
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        on_progress = SourceStageBars(bar, PlainProgressLines(err),
                                      {"clean": "clean clips", "fragility": "Theorem 2 ratio"}, "noise and attacks")
        with make_executor(executor, address, threads) as pool:
            result = run_robustness(settings, work_dir, executor=pool, progress=on_progress)
    _write_and_show(result, work_dir, as_json, err)


def report_robustness(
    work_dir: Path = typer.Argument(..., help="A work directory runs/robustness-<hash>/ of synthcheck robustness."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of tables."),
) -> None:
    """Re-render the tables and report of a robustness run, finished or not (what is finished so far)."""
    from synthcheck.errors import BadInputError
    from synthcheck.experiments.robustness import read_robustness

    if not work_dir.is_dir():
        raise BadInputError(f"{work_dir}: not a directory; give a work directory runs/robustness-<hash>/")
    _write_and_show(read_robustness(work_dir), work_dir, as_json, Console(stderr=True))


def _write_and_show(result: RobustnessResult, work_dir: Path, as_json: bool, err: Console) -> None:
    from synthcheck.cache import atomic_write_bytes
    from synthcheck.report.detector_tables import markdown
    from synthcheck.report.robustness_report import (
        clause_table,
        detector_table,
        original_table,
        summary_table,
        write_robustness_report,
    )

    text = json.dumps(result.to_dict(), indent=2)
    atomic_write_bytes(work_dir / "results.json", text.encode("utf-8"))
    page = write_robustness_report(result, work_dir / "report.html")
    err.print(f"report written to {page}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(text)
        return
    out = Console(soft_wrap=True)
    for title, table in (("Ratios", summary_table(result)), ("Detectors on the changed transcripts",
                                                            detector_table(result.rows)),
                         ("The original (DeepSpeech) beside this run", original_table(result.rows)),
                         ("Clauses", clause_table(result.rows))):
        out.print(f"## {title}\n", markup=False)
        out.print(markdown(table) + "\n", markup=False)
