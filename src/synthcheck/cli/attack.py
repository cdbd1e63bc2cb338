"""``synthcheck attack``: targeted or untargeted white-box attack on one utterance, with a live progress bar."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthcheck.asr.precision import PRECISION_HELP
from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.cli.progress import PlainProgressLines


def register(app: typer.Typer) -> None:
    """Add the ``attack`` sub-command to ``app``."""
    app.command("attack")(attack)


def attack(
    audio_path: Path = typer.Argument(..., metavar="IN.wav", help="Utterance to attack (any sample rate; 0.1–30 s)."),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Phrase to make the recogniser hear (untargeted: the reference; default its clean transcript)."
    ),
    output: Path = typer.Option(..., "--output", "-o", metavar="OUT.wav", help="Adversarial WAV (a .json summary is written beside it)."),
    asr: str = typer.Option("whisper-base", "--asr", help=f"Recogniser to attack: {', '.join(RECOGNIZERS)}."),
    untargeted: bool = typer.Option(False, "--untargeted", help="Make the transcript differ from the reference instead."),
    max_steps: int = typer.Option(1000, "--max-steps", help="Optimiser steps at most."),
    learning_rate: float = typer.Option(20.0, "--learning-rate", help="Adam step size on the 16-bit scale."),
    initial_bound: float = typer.Option(2000.0, "--initial-bound", help="Starting L-inf bound on the 16-bit scale."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop optimising after this many seconds."),
    stop_db_x: float | None = typer.Option(None, "--stop-db-x", help="Stop once a success at or below this dB_x is found."),
    wer_threshold: float = typer.Option(0.5, "--wer-threshold", help="Untargeted success: WER above this."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial random perturbation."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    transfer: bool = typer.Option(False, "--transfer", help="Also transcribe the result with every recogniser."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    allow_truncated: bool = typer.Option(
        False, "--allow-truncated", help="Use a WAV cut short (fewer samples than its header says) with a warning."
    ),
) -> None:
    """Attack IN.wav so the recogniser hears --target (or, with --untargeted, anything else); write OUT.wav."""
    from synthcheck.asr.base import white_box_recognizer
    from synthcheck.asr.precision import resolve_precision
    from synthcheck.asr.registry import get_recognizer
    from synthcheck.attacks import Attack, AttackConfig, AudioDomain, TargetText, WordErrorAbove, transfer_check
    from synthcheck.audio.io import check_wav_output, load_audio
    from synthcheck.errors import BadInputError

    if not untargeted and (target is None or not target.strip()):
        raise BadInputError("attack: --target is empty; give the phrase to aim for (or use --untargeted)")
    # Everything the user typed is checked before the recogniser loads and the attack runs.
    config = AttackConfig(
        max_steps=max_steps, learning_rate=learning_rate, initial_bound=initial_bound, time_budget_s=time_budget,
        stop_db_x=stop_db_x, seed=seed,
    )
    precision = resolve_precision(precision)
    domain = AudioDomain()
    config.check_scale(domain.scale)
    criterion = WordErrorAbove(target, threshold=wer_threshold) if untargeted else TargetText(target)
    check_wav_output(output)
    audio = load_audio(audio_path, allow_truncated=allow_truncated)
    runner = Attack(white_box_recognizer(get_recognizer(asr), precision), config, domain=domain)

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]attack[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn()
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("attack", total=max_steps, status="")

        lines = PlainProgressLines(console)

        def show(p) -> None:
            status = f"loss {p.loss:7.3f}  dB_x {p.db_x:6.1f}  successes {p.successes}/{p.n_items}"
            bar.update(task, completed=p.step, status=status)
            lines.update("attack", p.step, max_steps, status)

        (result,) = runner.run([audio], criterion, progress=show)
    result.save(output)
    transcripts = transfer_check(result.adversarial) if transfer else None

    if as_json:
        summary = {k: v for k, v in result.to_dict().items() if k != "loss_curve"}
        summary["output"] = str(output)
        if transcripts is not None:
            summary["transfer"] = transcripts
        typer.echo(json.dumps(summary, indent=2))
        return
    out = Console()
    table = Table(show_header=False, box=None)
    verdict = "[green]success[/]" if result.success else "[red]failed[/]"
    rows = [
        ("result", f"{verdict} ({result.kind}, confirmed by greedy decode)"),
        ("target" if result.kind == "targeted" else "reference", escape(result.target)),
        ("transcript", escape(result.transcript)),
        ("dB_x", f"{result.db_x:.1f} dB"),
        ("SNR (energy)", f"{result.snr_db:.1f} dB"),
        ("SNR (fitted)", f"{result.fitted_snr_db:.1f} dB"),
        ("steps", f"{result.steps} (first success at {result.first_success_step})"),
        ("time", f"{result.seconds:.0f} s"),
        ("written", escape(f"{output} (+ {output.with_suffix('.json').name})")),
    ]
    for name, value in rows + [(f"transfer {k}", escape(v)) for k, v in (transcripts or {}).items()]:
        table.add_row(name, value)
    out.print(table)
