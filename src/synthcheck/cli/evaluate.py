"""``synthcheck evaluate-detectors``: detectors against real non-adaptive and adaptive attacks, as tables and an
HTML report; ``synthcheck report-detectors`` re-renders the report of finished work directories (several: pooled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.precision import PRECISION_HELP
from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.cli.progress import PlainProgressLines, SourceStageBars
from synthcheck.experiments.executors import DEFAULT_THREADS, EXECUTORS

if TYPE_CHECKING:
    from synthcheck.experiments.attack_evaluation import AttackEvaluation

#: Where evaluations are stored: ``runs/detectors-<settings hash>/``.
RUNS_ROOT = Path("runs")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate-detectors`` and ``report-detectors`` sub-commands to ``app``."""
    app.command("evaluate-detectors")(evaluate_detectors)
    app.command("report-detectors")(report_detectors)


def evaluate_detectors(
    recognizer: str = typer.Option("whisper-tiny.en", "--recognizer", help=f"Protected recogniser: {', '.join(RECOGNIZERS)}."),
    detectors: str = typer.Option("", "--detectors", help="Comma-separated configurations (default: all standard ones)."),
    dataset: list[str] = typer.Option(["two-cities-tts", "two-cities-human"], "--dataset", help="Speech set(s)."),
    n: int = typer.Option(3, "--n", help="Clauses attacked per dataset."),
    offset: int = typer.Option(0, "--offset", help="First clause attacked (another offset: other clauses, same "
                               "clean calibration; report-detectors pools such runs)."),
    n_clean: int = typer.Option(18, "--n-clean", help="Clean clauses per dataset for threshold calibration."),
    steps: int = typer.Option(300, "--steps", help="Attack steps at most per stage."),
    stop_db_x: float = typer.Option(-45.0, "--stop-db-x", help="Stop a stage once every item succeeded at this dB_x."),
    stage_budget: float | None = typer.Option(None, "--stage-budget", help="Seconds of optimisation per stage at most."),
    adaptive: bool = typer.Option(True, "--adaptive/--no-adaptive", help="Also run the adaptive stages."),
    stages: str = typer.Option("", "--stages", help="Comma-separated attack stages to run (default: all; targeted, "
                               "small-edit, adaptive-likelihood, adaptive-xcorr, adaptive-dtw, adaptive-combined, adaptive-align, "
                               "adaptive-likelihood-align, adaptive-smoothed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the channel noise and the attacks' initial perturbation."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Results JSON (default: evaluation.json in the "
                                       "work directory runs/detectors-<hash>/); the HTML report goes next to it."),
    executor: str = typer.Option("local", "--executor", help=f"Where items run: {', '.join(EXECUTORS)}."),
    address: str | None = typer.Option(None, "--address", help="Address of an existing Ray cluster (with --executor ray)."),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", help="Torch threads per task."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of tables."),
) -> None:
    """Attack clauses (fixed target, small edits, adaptive to the detectors) and score every detector.

    Each dataset is one resumable experiment under runs/detectors-<hash>/<dataset>/ (the store, executors and
    checkpoints of ``reproduce``): rerunning the command finishes what a killed run left and redoes nothing.
    """
    from synthcheck.attacks.kinds import ATTACK_KINDS, TARGET_KINDS
    from synthcheck.experiments.attack_evaluation import EvaluationSettings, run_attack_evaluation
    from synthcheck.experiments.executors import make_executor

    chosen = tuple(x for x in stages.split(",") if x) or tuple(
        k for k in TARGET_KINDS if adaptive or ATTACK_KINDS[k].detector is None)
    settings = EvaluationSettings(
        recognizer=recognizer, sources=tuple(dataset), detectors=tuple(d for d in detectors.split(",") if d),
        n_attack=n, attack_offset=offset, n_clean=n_clean, steps=steps, stop_db_x=stop_db_x, stage_budget_s=stage_budget,
        stages=chosen, seed=seed, precision=precision,
    )
    work_dir = RUNS_ROOT / f"detectors-{settings.key()}"
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        on_progress = SourceStageBars(bar, PlainProgressLines(err), {"clean": "clean clips"}, "attacks (item-steps)")
        with make_executor(executor, address, threads) as pool:
            result = run_attack_evaluation(settings, work_dir, executor=pool, progress=on_progress)
    _write_and_show(result, output or work_dir / "evaluation.json", as_json, err)


def report_detectors(
    work_dirs: list[Path] = typer.Argument(..., help="Work directories runs/detectors-<hash>/ of evaluate-detectors "
                                           "(several, over different --offset: pooled)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="HTML file (default: report.html in the first "
                                       "directory; needed when pooling). The results JSON goes next to it."),
) -> None:
    """Re-render the report (and results JSON) of finished ``evaluate-detectors`` runs; prints the page's path."""
    from synthcheck.errors import BadInputError
    from synthcheck.experiments.attack_evaluation import read_attack_evaluation
    from synthcheck.report.detectors_report import write_detectors_report

    if len(work_dirs) > 1 and output is None:
        raise BadInputError("pooling several work directories needs -o OUT.html (the pooled JSON goes next to it)")
    evaluation = read_attack_evaluation(work_dirs)
    page = output or Path(work_dirs[0]) / "report.html"
    _write_json(evaluation, page.with_suffix(".json"))
    typer.echo(write_detectors_report(evaluation, page))


def _write_json(evaluation: AttackEvaluation, path: Path) -> str:
    from synthcheck.cache import atomic_write_bytes

    text = json.dumps(evaluation.to_dict(), indent=2)
    atomic_write_bytes(path, text.encode("utf-8"))
    return text


def _write_and_show(evaluation: AttackEvaluation, path: Path, as_json: bool, err: Console) -> None:
    from synthcheck.report.detector_tables import evaluation_table, evasion_table, markdown, stage_table, theorem13_table
    from synthcheck.report.detectors_report import write_detectors_report

    text = _write_json(evaluation, path)
    err.print(f"report written to {write_detectors_report(evaluation, path.with_suffix('.html'))}", markup=False,
              highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(text)
        return
    out = Console(soft_wrap=True)  # markdown tables: never wrap a row
    for title, table in (("Attack stages", stage_table(evaluation.stages)),
                         ("Detectors", evaluation_table(evaluation.evaluations)),
                         ("Adaptive attacks: evasion", evasion_table(evaluation.evasion)),
                         ("Theorem 1.3 estimate", theorem13_table(evaluation.theorem13))):
        out.print(f"## {title}\n", markup=False)
        out.print(markdown(table) + "\n", markup=False)
    err.print(f"results written to {path}", markup=False, highlight=False, soft_wrap=True)
