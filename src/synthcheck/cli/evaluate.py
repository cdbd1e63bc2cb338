"""``synthcheck evaluate-detectors``: detectors against real non-adaptive and adaptive attacks, as tables and an
HTML report; ``synthcheck report-detectors`` re-renders the report of a saved results file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.cli.progress import PlainProgressLines


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
                               "small-edit, adaptive-likelihood, adaptive-xcorr, adaptive-dtw, adaptive-combined)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the channel noise and the attacks' initial perturbation."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Results JSON (default runs/detectors-<hash>.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of tables."),
) -> None:
    """Attack clauses (fixed target, small edits, adaptive to the detectors) and score every detector.

    Finished stages are cached under runs/detectors-<hash>/ and reused when the command is run again. The HTML
    report is written next to the results JSON (same name, .html).
    """
    from synthcheck.detect.voice_search import DEFAULT_VOICES
    from synthcheck.experiments.pipeline import software_versions
    from synthcheck.experiments.adaptive_eval import (
        ATTACK_STAGES,
        AdaptiveEvalSettings,
        evasion_table,
        run_adaptive_evaluation,
        stage_table,
        theorem13_table,
    )
    from synthcheck.experiments.detector_evaluation import markdown_table
    from synthcheck.report.detectors_report import write_detectors_report

    settings = AdaptiveEvalSettings(
        recognizer=recognizer, sources=tuple(dataset), detectors=tuple(d for d in detectors.split(",") if d),
        n_attack=n, attack_offset=offset, n_clean=n_clean, steps=steps, stop_db_x=stop_db_x, stage_budget_s=stage_budget,
        stages=tuple(x for x in stages.split(",") if x) or (ATTACK_STAGES if adaptive else ATTACK_STAGES[:2]),
        seed=seed,
    )
    key = settings.key()
    path = output or Path("runs") / f"detectors-{key}.json"
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, int] = {}
        lines = PlainProgressLines(err)

        def on_attack(stage: str, p) -> None:  # type: ignore[no-untyped-def]
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"attack {stage}", total=p.max_steps)
            bar.update(tasks[stage], completed=p.step,
                       description=f"attack {stage} ({p.successes}/{p.n_items} ok, {p.db_x:.1f} dB_x)")
            lines.update(f"attack {stage}", p.step, p.max_steps, f"{p.successes}/{p.n_items} ok, {p.db_x:.1f} dB_x")

        checks = bar.add_task("detector checks", total=None)
        result = run_adaptive_evaluation(settings, Path("runs") / f"detectors-{key}",
                                         attack_progress=on_attack, check_progress=lambda: bar.advance(checks))
    one_voice_per_engine = {voice.partition(":")[0]: voice for voice in DEFAULT_VOICES}.values()
    payload = {**result.to_dict(), "versions": software_versions(list(one_voice_per_engine))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    err.print(f"report written to {write_detectors_report(path)}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    out = Console(soft_wrap=True)  # markdown tables: never wrap a row
    out.print("## Attack stages\n")
    out.print(stage_table(result), markup=False)
    out.print("\n## Detectors\n")
    out.print(markdown_table(result.evaluations), markup=False)
    out.print("\n## Adaptive attacks: evasion\n")
    out.print(evasion_table(result), markup=False)
    out.print("\n## Theorem 1.3 estimate\n")
    out.print(theorem13_table(result), markup=False)
    err.print(f"results written to {path}")


def report_detectors(
    results: list[Path] = typer.Argument(..., help="Results JSON written by evaluate-detectors (several: pooled)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="HTML file (default: RESULTS with .html)."),
) -> None:
    """Re-render the HTML report of a saved ``evaluate-detectors`` results file; prints the page's path.

    Several files (runs over different clauses, ``--offset``) are pooled into one report; ``-o`` names it, and the
    pooled results are written next to it as JSON.
    """
    from synthcheck.errors import BadInputError
    from synthcheck.report.detectors_report import write_detectors_report, write_pooled_report

    if len(results) == 1:
        typer.echo(write_detectors_report(results[0], output))
        return
    if output is None:
        raise BadInputError("pooling several results files needs -o OUT.html (the pooled JSON goes next to it)")
    typer.echo(write_pooled_report(results, output))
