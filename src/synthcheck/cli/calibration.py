"""``synthcheck calibrate-speakers``: leave-one-speaker-out calibration of detector thresholds on clean human
speech (:mod:`synthcheck.experiments.speaker_calibration`), as one table per detector and a results JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.cli.progress import PlainProgressLines, SourceStageBars
from synthcheck.detect.configs import DETECTOR_NAMES
from synthcheck.experiments.executors import DEFAULT_THREADS
from synthcheck.guard.core import DEFAULT_GUARD_ASR

if TYPE_CHECKING:
    from synthcheck.experiments.speaker_calibration import DetectorCalibration, Rate, SpeakerCalibration

#: Detectors by default, shown in ``--help`` (the library's ``DEFAULT_DETECTORS``, kept in step by the tests;
#: importing the library here would load torch for every ``--help``).
_DEFAULT_DETECTORS = "likelihood,align,likelihood+align"


def register(app: typer.Typer) -> None:
    """Add the ``calibrate-speakers`` sub-command to ``app``."""
    app.command("calibrate-speakers")(calibrate_speakers)


def calibrate_speakers(
    asr: str = typer.Option(DEFAULT_GUARD_ASR, "--asr",
                            help=f"Protected recogniser (default: that of `detect`): {', '.join(RECOGNIZERS)}."),
    detectors: str = typer.Option(_DEFAULT_DETECTORS, "--detectors",
                                  help=f"Comma-separated detectors: {', '.join(DETECTOR_NAMES)}."),
    target_fpr: float = typer.Option(0.05, "--target-fpr", help="False-positive rate calibrated for, in [0, 1)."),
    merge: list[str] = typer.Option([], "--merge", help="SPEAKER=INTO: hold SPEAKER out together with INTO "
                                    "(repeatable or comma-separated), e.g. beckett=librivox-two-cities."),
    datasets: str = typer.Option("", "--datasets", help="Comma-separated recorded sets forming the pool (default: "
                                 "every clean human set; the packaged ones take minutes to build the first time)."),
    seed: int = typer.Option(0, "--seed", help="Seed stored with the result (recorded clips draw no noise)."),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", help="Torch threads."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the result (settings, versions, every clip's "
                                    "transcript and scores, every fold) to this JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of tables."),
) -> None:
    """Calibrate each detector's threshold on all speakers but one, measure its false positives on that one.

    The pool is every clean human set; the clean negatives are the clips the recogniser transcribes exactly.
    Beside each held-out FPR (Wilson 95 % interval) the table gives the FPR of the shipped threshold.
    """
    from synthcheck.errors import BadInputError
    from synthcheck.experiments.executors import run_with_threads
    from synthcheck.experiments.speaker_calibration import (
        SpeakerCalibrationSettings,
        human_pool,
        parse_merge,
        run_speaker_calibration,
        speaker_groups,
    )
    from synthcheck.experiments.sweep import parse_list

    if out is not None and out.suffix.lower() != ".json":
        raise BadInputError(f"--out {out}: give a .json file")
    if threads < 1:
        raise BadInputError(f"--threads must be at least 1, got {threads}")
    settings = SpeakerCalibrationSettings(recognizer=asr, detectors=parse_list(detectors, name="detectors"),
                                          target_fpr=target_fpr, merge=parse_merge(merge), seed=seed,
                                          datasets=parse_list(datasets, name="datasets") if datasets else ())
    pool = human_pool(settings.pool_datasets)
    speaker_groups([u for _, u in pool], settings.merge)  # an unknown speaker fails now, before any model loads
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        on_progress = SourceStageBars(bar, PlainProgressLines(err), {"transcribe": "clips transcribed",
                                                                     "score": "clean clips scored"}, "other")
        result = run_with_threads(lambda chosen: run_speaker_calibration(chosen, pool=pool, progress=on_progress),
                                  threads, settings)
    text = json.dumps(result.to_dict(), indent=2)
    if out is not None:
        from synthcheck.cache import atomic_write_bytes

        atomic_write_bytes(out, text.encode("utf-8"))
    if as_json:
        typer.echo(text)
    else:
        typer.echo(render(result))
    if out is not None:
        err.print(f"results written to {out}", markup=False, highlight=False, soft_wrap=True)


def render(result: SpeakerCalibration) -> str:
    """The result as Markdown: the speakers' clips, then one table per detector (and all-of variant)."""
    from synthcheck.report.detector_tables import markdown

    s = result.settings
    needed = "no number of clips" if result.clips_needed is None else f"{result.clips_needed} clean clips"
    parts = [f"Leave-one-speaker-out calibration: {s.recognizer}, target FPR {_pct(s.target_fpr)}, seed {s.seed}"
             + (f", merged {', '.join(f'{a}={b}' for a, b in s.merge)}" if s.merge else "") + ".",
             f"Certifying {_pct(s.target_fpr)} on one speaker (Wilson 95 % upper bound) needs {needed} with no "
             "false positive.",
             "## Speakers",
             markdown((["held-out speaker", "recorded as", "datasets", "clips (correct/total)", "excluded"],
                       [[g.speaker, ", ".join(g.recorded), ", ".join(g.datasets), f"{g.n_clean}/{g.n_clips}",
                         str(len(g.excluded))] for g in result.speakers]))]
    clips = {g.speaker: g for g in result.speakers}
    for d in result.detectors:
        parts += [f"## {_title(d)}", markdown(_detector_table(d, clips)), _note(d, s.target_fpr)]
    return "\n\n".join(parts) + "\n"


def _title(d: DetectorCalibration) -> str:
    name = d.detector if d.detector == d.config else f"{d.detector} ({d.config})"
    if d.variant == "members":
        return f"{name}: each member calibrated, union at 1.0 (the shipped rule)"
    if d.variant == "normalised":
        return f"{name}: min_k score_k/threshold_k calibrated"
    return name


def _detector_table(d: DetectorCalibration, clips: dict) -> tuple[list[str], list[list[str]]]:
    all_of = d.variant != "single"
    head = ["held-out speaker", "clips (correct/total)", "threshold used", "FPR held-out [Wilson 95 %]",
            f"FPR at shipped {_thresholds(d.shipped_threshold, d.shipped_member_thresholds, all_of)}"]
    rows = [[f.speaker, f"{clips[f.speaker].n_clean}/{clips[f.speaker].n_clips}",
             _thresholds(f.threshold, f.member_thresholds, all_of), _rate(f.held_out), _rate(f.shipped)]
            for f in d.folds]
    total = sum(g.n_clips for g in clips.values())
    rows.append(["**pooled (LOSO)**", f"{d.held_out.n}/{total}", "per fold", f"**{_rate(d.held_out)}**",
                 _rate(d.shipped)])
    rows.append(["all speakers (in-sample)", f"{d.in_sample.n}/{total}",
                 _thresholds(d.in_sample_threshold, d.in_sample_member_thresholds, all_of), _rate(d.in_sample), ""])
    return head, rows


def _note(d: DetectorCalibration, target: float) -> str:
    thin = [f.speaker for f in d.folds if not f.certified]
    if not thin:
        return f"Every held-out speaker certifies {_pct(target)}."
    verdict = "certifies" if d.certified else "does not certify"
    return (f"Too few clips to certify {_pct(target)} (Wilson upper bound above it): {', '.join(thin)}. "
            f"The pooled LOSO rate {verdict} {_pct(target)}.")


def _thresholds(threshold: float, members: tuple[float, ...], all_of: bool) -> str:
    if not all_of:
        return f"{threshold:.3f}"
    return f"{threshold:.3f} (members " + ", ".join(f"{t:.3f}" for t in members) + ")"


def _rate(rate: Rate) -> str:
    if rate.n == 0:
        return "— (no clean clip)"
    return f"{_pct(rate.rate)} ({rate.flagged}/{rate.n}) [{_pct(rate.low)}, {_pct(rate.high)}]"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"
