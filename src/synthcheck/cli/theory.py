"""``synthcheck theory linear`` and ``synthcheck theory fragility``: the paper's theorems, measured."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthcheck.errors import BadInputError

theory_app = typer.Typer(
    help="Theorem 1 (linear compressed classifier) and Theorem 2 (fragility ratio), measured.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``theory`` sub-app (``linear``, ``fragility``) to ``app``."""
    app.add_typer(theory_app, name="theory")


def _parse_list(text: str, kind: type, option: str, example: str) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInputError(f"{option} must be a comma-separated list like {example}, got {text!r}") from None
    if not values:
        raise BadInputError(f"{option} is empty; give at least one value like {example}")
    return values


@theory_app.command("linear")
def linear(
    n: int = typer.Option(1000, "--n", help="Input dimension N."),
    m: str = typer.Option("10,20,50,100,200,500,1000", "--m", help="Compressed dimensions M, comma-separated."),
    trials: int = typer.Option(20, "--trials", help="Random instances (matrix A and geometry) per M."),
    seed: int = typer.Option(0, "--seed", help="Seed of all random draws."),
    radius: float = typer.Option(1.0, "--radius", help="Radius r of the decision balls."),
    offset: float = typer.Option(0.5, "--offset", help="Distance of x from its codeword c_1 (< r)."),
    distance: float = typer.Option(20.0, "--distance", help="Distance from x to the codeword of the other label."),
    confidence: float = typer.Option(0.99, "--confidence", help="Probability with which random perturbations must keep the decision."),
    samples: int = typer.Option(4000, "--samples", help="Monte Carlo directions per random-radius estimate."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of rows on stdout."),
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE.png", help="Write a log-log plot."),
) -> None:
    """Minimal adversarial vs random-robust perturbations of a Gaussian compressed classifier, per M."""
    from synthcheck.theory.linear_experiment import linear_sweep

    ms = _parse_list(m, int, "--m", "10,20,50")
    if plot is not None and plot.suffix.lower() != ".png":
        raise BadInputError(f"--plot writes a PNG image; give a file name ending in .png, got {plot.name!r}")
    console = Console(stderr=True)
    columns = (TextColumn("linear sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("trials", total=trials * (len(ms) + 1))
        rows = linear_sweep(
            n, ms, trials=trials, seed=seed, radius=radius, offset=offset, distance=distance,
            confidence=confidence, samples=samples, on_trial=lambda: bar.advance(task),
        )
    if plot is not None:
        from synthcheck.theory.plots import plot_linear_sweep

        plot_linear_sweep(rows, plot)
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=1))
        return
    table = Table(title=f"Theorem 1, N = {n}: measured (mean over k trials) and theory (dim rows)", caption=(
        f"r = {radius:g}, ‖x − c_1‖ = {offset:g}, ‖c_2 − x‖ = {distance:g}, confidence {confidence:g}; "
        "tgt/untgt = minimal targeted/untargeted perturbation norm; rand = random-robust radius; ratio = rand/untgt "
        "(min over trials); bound = 1/sqrt(q) ≤ ratio; Th1.3 = flagged/sub-bound attacks"))
    for header in ("M", "k", "tgt", "untgt", "rand", "ratio", "min", "bound", "√(N/M)", "Th1.3"):
        table.add_column(header, justify="right")
    for row in rows:
        t = row.theory
        table.add_row(
            str(row.m) if row.classifier == "compressed" else f"{row.m}, A=I",
            str(row.trials),
            f"{row.adv_targeted:.3g}",
            f"{row.adv_untargeted:.3g}",
            f"{row.random_radius:.3g}",
            f"{row.ratio:.3g}",
            f"{row.ratio_min:.3g}",
            f"{t.ratio_low:.3g}",
            f"{row.sqrt_n_over_m:.3g}",
            f"{row.theorem_1_3.flagged}/{row.theorem_1_3.sub_bound}",
        )
        table.add_row("theory", "", f"{t.adv_targeted_mean:.3g}", f"{t.adv_untargeted_mean:.3g}",
                      f"{t.random_radius_typical:.3g}", f"{t.ratio_typical:.3g}", "", "", "", "", style="dim")
    Console().print(table)
    if plot is not None:
        Console().print(f"plot written to {plot}", markup=False)


@theory_app.command("fragility")
def fragility_command(
    model: str = typer.Option("gaussian", "--model", help="gaussian, mnist-logits, mnist-penultimate or whisper-tiny.en."),
    audio: Path | None = typer.Option(None, "--audio", metavar="FILE", help="Speech input for whisper-tiny.en."),
    n: int = typer.Option(4000, "--n", help="Input dimension of the Gaussian map."),
    m: int = typer.Option(100, "--m", help="Output dimension of the Gaussian map."),
    seed: int = typer.Option(0, "--seed", help="Seed of the start vector, random directions and Gaussian map / MNIST image."),
    iters: int = typer.Option(30, "--iters", help="Power iterations at most (one JVP + one VJP each)."),
    samples: int = typer.Option(64, "--samples", help="Random unit directions for E‖J·o‖."),
    rel_tol: float = typer.Option(1e-3, "--rel-tol", help="Stop power iteration when σ_max changes less than this."),
    fd_steps: str = typer.Option(
        "1e-2,1e-3,1e-4", "--fd-steps", help="Finite-difference steps relative to ‖x‖, comma-separated ('' skips)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Fragility ratio σ_max(J) / E‖J·o‖ of a map at a point, against sqrt(N/M) and sqrt((N+M)/M)."""
    import numpy as np
    import torch

    from synthcheck.theory.applied import fragility_target
    from synthcheck.theory.fragility import fragility

    waveform = None
    if audio is not None:
        from synthcheck.audio.io import load_audio

        waveform = load_audio(audio)
    console = Console(stderr=True)
    with console.status(f"measuring fragility of {model}"):
        # Independent streams for the map/point and for the directions (the same seed would correlate them).
        target_seed, direction_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        target = fragility_target(model, n=n, m=m, audio=waveform, seed=target_seed)
        generator = torch.Generator().manual_seed(direction_seed)
        steps = _parse_list(fd_steps, float, "--fd-steps", "1e-3,1e-4") if fd_steps.strip() else []
        report = fragility(
            target.h, target.x, generator=generator, iters=iters, samples=samples, rel_tol=rel_tol, fd_steps=steps
        )
    if as_json:
        summary = {"model": model, "description": target.description, "expected_ratio": target.expected_ratio}
        typer.echo(json.dumps({**summary, **report.as_dict()}, indent=1))
        return
    out = Console()
    out.print(f"[bold]{target.description}[/bold]  (N = {report.n}, M = {report.m})")
    state = "converged" if report.converged else "NOT converged (raise --iters)"
    out.print(f"σ_max(J)      = {report.sigma_max:.6g}  after {report.iterations} power iterations, "
              f"last relative change {report.sigma_max_rel_change:.1e} ({state})")
    out.print(f"E‖J·o‖        = {report.mean_jo:.6g} ± {report.mean_jo_stderr:.2g}  ({samples} random unit directions)")
    out.print(f"[bold]ratio         = {report.ratio:.4f} ± {report.ratio_stderr:.4f}[/bold]")
    out.print(f"sqrt(N/M)     = {report.sqrt_n_over_m:.4f}   (Theorem 2 lower bound)")
    out.print(f"sqrt((N+M)/M) = {report.sqrt_n_plus_m_over_m:.4f}")
    if target.expected_ratio is not None:
        out.print(f"1 + sqrt(N/M) = {target.expected_ratio:.4f}   (large-N value for a Gaussian Jacobian)")
    for fd in report.fd_check:
        out.print(f"finite differences, ε = {fd.eps:.3g}: α/Eβ = {fd.fd_ratio:.4f} vs JVP ratio {fd.jvp_ratio:.4f} "
                  f"on the same directions (relative difference {fd.rel_diff:.1e})")
    out.print(f"cost: {report.n_jvp} JVPs, {report.n_vjp} VJPs, {report.seconds:.1f} s")
