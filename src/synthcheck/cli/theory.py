"""``synthcheck theory linear``, ``fragility`` and ``radii``: the paper's theorems, measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    from synthcheck.theory.applied import FragilitySurvey

theory_app = typer.Typer(
    help="Theorem 1 (linear compressed classifier) and Theorem 2 (fragility ratio), measured.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``theory`` sub-app (``linear``, ``fragility``, ``radii``) to ``app``."""
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
    model: str = typer.Option("gaussian", "--model", help="gaussian, mnist-logits, mnist-penultimate, "
                              "cnn-{mnist,fashion-mnist}-{logits,penultimate} or whisper-tiny.en."),
    audio: Path | None = typer.Option(None, "--audio", metavar="FILE", help="Speech input for whisper-tiny.en."),
    n: int = typer.Option(4000, "--n", help="Input dimension of the Gaussian map."),
    m: int = typer.Option(100, "--m", help="Output dimension of the Gaussian map."),
    seed: int = typer.Option(0, "--seed", help="Seed of the start vector, random directions and Gaussian map / test image."),
    points: int = typer.Option(1, "--points", help="Points to measure at (test images, Gaussian maps), each seeded; "
                               "more than one prints the median and quartiles."),
    iters: int = typer.Option(30, "--iters", help="Power iterations at most (one JVP + one VJP each)."),
    samples: int = typer.Option(64, "--samples", help="Random unit directions for E‖J·o‖."),
    rel_tol: float = typer.Option(1e-3, "--rel-tol", help="Stop power iteration when σ_max changes less than this."),
    fd_steps: str = typer.Option(
        "1e-2,1e-3,1e-4", "--fd-steps", help="Finite-difference steps relative to ‖x‖, comma-separated ('' skips)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report (with --points > 1, the survey) as JSON."),
) -> None:
    """Fragility ratio σ_max(J) / E‖J·o‖ of a map at a point, against sqrt(N/M) and sqrt((N+M)/M)."""
    from synthcheck.theory.applied import fragility_survey

    waveform = None
    if audio is not None:
        from synthcheck.audio.io import load_audio

        waveform = load_audio(audio)
    steps = _parse_list(fd_steps, float, "--fd-steps", "1e-3,1e-4") if fd_steps.strip() else []
    console = Console(stderr=True)
    with console.status(f"measuring fragility of {model}") as status:
        done = []

        def on_point(_report: object) -> None:
            done.append(1)
            status.update(f"measuring fragility of {model}: {len(done)}/{points} points")

        survey = fragility_survey(model, points=points, seed=seed, n=n, m=m, audio=waveform, iters=iters,
                                  samples=samples, rel_tol=rel_tol, fd_steps=steps, on_point=on_point)
    if points > 1:
        _render_survey(survey, as_json)
        return
    target_description, report, expected_ratio = survey.descriptions[0], survey.reports[0], survey.expected_ratio
    if as_json:
        summary = {"model": model, "description": target_description, "expected_ratio": expected_ratio}
        typer.echo(json.dumps({**summary, **report.as_dict()}, indent=1))
        return
    out = Console()
    out.print(f"[bold]{target_description}[/bold]  (N = {report.n}, M = {report.m})")
    state = "converged" if report.converged else "NOT converged (raise --iters)"
    out.print(f"σ_max(J)      = {report.sigma_max:.6g}  after {report.iterations} power iterations, "
              f"last relative change {report.sigma_max_rel_change:.1e} ({state})")
    out.print(f"E‖J·o‖        = {report.mean_jo:.6g} ± {report.mean_jo_stderr:.2g}  ({samples} random unit directions)")
    out.print(f"[bold]ratio         = {report.ratio:.4f} ± {report.ratio_stderr:.4f}[/bold]")
    out.print(f"sqrt(N/M)     = {report.sqrt_n_over_m:.4f}   (Theorem 2 lower bound)")
    out.print(f"sqrt((N+M)/M) = {report.sqrt_n_plus_m_over_m:.4f}")
    if expected_ratio is not None:
        out.print(f"1 + sqrt(N/M) = {expected_ratio:.4f}   (large-N value for a Gaussian Jacobian)")
    for fd in report.fd_check:
        out.print(f"finite differences, ε = {fd.eps:.3g}: α/Eβ = {fd.fd_ratio:.4f} vs JVP ratio {fd.jvp_ratio:.4f} "
                  f"on the same directions (relative difference {fd.rel_diff:.1e})")
    out.print(f"cost: {report.n_jvp} JVPs, {report.n_vjp} VJPs, {report.seconds:.1f} s")


def _render_survey(survey: FragilitySurvey, as_json: bool) -> None:
    """The per-point ratios of ``survey`` and their median and quartiles, as a table or JSON."""
    import numpy as np

    low, high = survey.ratio_quartiles
    fd = survey.fd_rel_diffs
    first = survey.reports[0]
    if as_json:
        summary = {"model": survey.name, "points": len(survey.reports), "median_ratio": survey.median_ratio,
                   "ratio_quartiles": [low, high], "sqrt_n_over_m": survey.sqrt_n_over_m,
                   "sqrt_n_plus_m_over_m": first.sqrt_n_plus_m_over_m, "expected_ratio": survey.expected_ratio,
                   "fd_ratio_median": float(np.median(survey.fd_ratios)) if fd.size else None,
                   "fd_rel_diff_median": float(np.median(fd)) if fd.size else None}
        rows = [{"description": text, **report.as_dict()} for text, report in zip(survey.descriptions, survey.reports)]
        typer.echo(json.dumps({**summary, "reports": rows}, indent=1))
        return
    table = Table(title=f"Theorem 2 on {survey.name} at {len(survey.reports)} points (N = {first.n}, M = {first.m})",
                  caption="ratio = σ_max / E‖J·o‖ from JVPs; FD = α/E β by finite differences at the smallest step "
                          "(and its relative difference from the JVP ratio on the same directions)")
    for header in ("#", "point", "σ_max", "E‖J·o‖", "ratio", "iterations", "FD"):
        table.add_column(header, justify="left" if header == "point" else "right")
    for i, (text, report) in enumerate(zip(survey.descriptions, survey.reports)):
        table.add_row(str(i), text, f"{report.sigma_max:.4g}", f"{report.mean_jo:.4g}",
                      f"{report.ratio:.2f} ± {report.ratio_stderr:.2f}",
                      f"{report.iterations}{'' if report.converged else ' (not converged)'}",
                      f"{report.fd_check[-1].fd_ratio:.2f} ({report.fd_check[-1].rel_diff:.0e})"
                      if report.fd_check else "—")
    out = Console()
    out.print(table)
    above = int(np.sum(survey.ratios > survey.sqrt_n_over_m))
    out.print(f"[bold]median ratio = {survey.median_ratio:.2f}[/bold], quartiles {low:.2f} – {high:.2f} "
              f"(IQR {high - low:.2f}), min {survey.ratios.min():.2f}; {above}/{len(survey.reports)} above "
              f"sqrt(N/M) = {survey.sqrt_n_over_m:.3f}; sqrt((N+M)/M) = {first.sqrt_n_plus_m_over_m:.3f}")
    if survey.expected_ratio is not None:
        out.print(f"1 + sqrt(N/M) = {survey.expected_ratio:.4f}   (large-N value for a Gaussian Jacobian)")
    if fd.size:
        out.print(f"finite differences at the smallest step: median α/Eβ = {np.median(survey.fd_ratios):.2f}, "
                  f"median relative difference from the JVP ratio {np.median(fd):.1e}, largest {fd.max():.1e}")


@theory_app.command("radii")
def radii_command(
    dataset: str = typer.Option("mnist", "--dataset", help="mnist or fashion-mnist (its trained CNN)."),
    images: int = typer.Option(50, "--images", help="Distinct test images, drawn by the seed."),
    seed: int = typer.Option(0, "--seed", help="Seed of the images and of the noise directions."),
    directions: int = typer.Option(16, "--directions", help="Random noise directions per image."),
    attack_steps: int = typer.Option(100, "--attack-steps", help="Steps of the minimal-L2 attack (DDN)."),
    as_json: bool = typer.Option(False, "--json", help="Print the quartiles and every image's radii as JSON."),
) -> None:
    """Random-noise radius vs minimal adversarial radius (L2) of the image CNN, beside sqrt(N/M)."""
    from synthcheck.images.robustness import RadiusSearch, quartiles, radii_of_test_images

    settings = RadiusSearch(directions=directions, attack_steps=attack_steps)
    with Console(stderr=True).status(f"measuring noise and adversarial radii of {images} {dataset} test images"):
        summary = radii_of_test_images(dataset, images, seed=seed, settings=settings)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=1))
        return
    table = Table(title=f"{summary.classifier}: L2 radii of {images} test images (seed {seed})", caption=(
        f"noise = lower median over {directions} Gaussian directions of the smallest noise norm that changes the "
        "decision (clipped to [0, 1], or not); adversarial = DDN minimal-L2 attack; ratio = noise / adversarial"))
    for header in ("quantity", "Q1", "median", "Q3"):
        table.add_column(header, justify="left" if header == "quantity" else "right")
    for name, values in (("noise, clipped", summary.noise), ("noise, unclipped", summary.noise_unclipped),
                         ("adversarial", summary.adversarial), ("ratio, clipped", summary.ratio),
                         ("ratio, unclipped", summary.ratio_unclipped)):
        table.add_row(name, *(f"{v:.3g}" for v in quartiles(values)))
    out = Console()
    out.print(table)
    larger = sum(float(a) < float(b) for a, b in zip(summary.adversarial, summary.noise))
    out.print(f"clean accuracy {summary.correct:.0%}; clipped noise radius > adversarial radius on {larger}/{images}; "
              f"sqrt(N/M) = {summary.sqrt_n_over_m(10):.2f} (M = 10 logits), {summary.sqrt_n_over_m(128):.2f} "
              "(M = 128 penultimate)")
