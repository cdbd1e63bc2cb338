"""The guard's sub-commands: ``detect`` (one file, or many in one call) and ``serve`` (the HTTP service)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.cli.progress import PlainProgressLines
from synthcheck.cli.speech import ALLOW_TRUNCATED
from synthcheck.detect.configs import DEFAULT_DETECTOR, DETECTOR_NAMES
from synthcheck.detect.registry import COMPARATORS
from synthcheck.experiments.executors import DEFAULT_THREADS, EXECUTORS
from synthcheck.guard.core import DEFAULT_GUARD_ASR

if TYPE_CHECKING:
    from synthcheck.detect import DetectorConfig, Verdict
    from synthcheck.guard import BatchSummary, FileCheck, GuardSettings

_ASR = typer.Option(DEFAULT_GUARD_ASR, "--asr", help=f"Recogniser protected: {', '.join(RECOGNIZERS)}.")
_MAX_SECONDS = typer.Option(None, "--max-seconds", help="Refuse longer recordings (default 600; serve: 120).")


def register(app: typer.Typer) -> None:
    """Add ``detect`` and ``serve`` to ``app``."""
    app.command("detect")(detect)
    app.command("serve")(serve)


def detect(
    paths: list[Path] | None = typer.Argument(
        None, metavar="[FILE|DIR]...",
        help="Audio files or directories (walked for .wav/.flac/.ogg/.mp3); none: the built-in example.",
    ),
    asr: str = _ASR,
    detector: str | None = typer.Option(
        None, "--detector", metavar="NAME",
        help=f"Detector configuration: {', '.join(DETECTOR_NAMES)}. Default {DEFAULT_DETECTOR} (an independent "
        "Whisper and pocketsphinx must both accept the transcript; best on human voices, calibrated on them — for "
        "pico2wave speech use 'likelihood'); 'paper' is the paper's pico2wave + xcorr check.",
    ),
    comparator: str | None = typer.Option(
        None, "--comparator",
        help=f"Custom detector instead of --detector: {', '.join(COMPARATORS)} against one TTS voice.",
    ),
    tts: str | None = typer.Option(None, "--tts", help="Custom detector: TTS engine (pico2wave, espeak-ng, flite)."),
    voice: str | None = typer.Option(
        None, "--voice", help="Custom detector: voice of the engine (see `synthcheck voices`)."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Scores below it are inconsistent (default: the detector's calibrated one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One file: print one JSON object on stdout."),
    jsonl: Path | None = typer.Option(
        None, "--jsonl", metavar="OUT.jsonl",
        help="Batch: append one JSON line per file to OUT (files already in it are skipped: rerun to resume). "
        "Without it a batch prints the lines on stdout.",
    ),
    executor: str = typer.Option("local", "--executor", help=f"Batch: where files are checked: {', '.join(EXECUTORS)}."),
    address: str | None = typer.Option(None, "--address", help="Batch: address of an existing Ray cluster."),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", help="Batch: torch threads per check."),
    example: str = typer.Option("human", "--example", help="Without FILE: the built-in example to check, 'human' "
                                "(a LibriVox reader) or 'tts' (pico2wave through a 28 dB channel)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tts example's channel noise (used without FILE)."),
    max_seconds: float | None = _MAX_SECONDS,
    allow_truncated: bool = ALLOW_TRUNCATED,
    dataset: str | None = typer.Option(
        None, "--dataset", help="Judge images instead of audio: mnist or fashion-mnist (28x28 grey PNG or .npy "
        "files; --detector evidence (default) or residual, --threshold)."),
) -> None:
    """Check whether recordings are consistent with their transcripts (exit 0 whatever the verdicts).

    One FILE: the verdict, with each member's score against its threshold. Several files, a directory or
    --jsonl: a batch — the models load once, a bad file is one error line and never stops the batch, a
    summary ends it. --detector picks a named configuration; --comparator/--tts/--voice build a custom one
    instead (one voice, default pico2wave; a comparator, default xcorr-paper; its calibrated threshold).
    """
    from synthcheck.errors import BadInputError
    from synthcheck.guard import GuardSettings, find_audio_files

    if dataset is not None:
        from synthcheck.cli.images import detect_images

        speech_only = {"--comparator": comparator, "--tts": tts, "--voice": voice, "--jsonl": jsonl,
                       "--address": address, "--max-seconds": max_seconds,
                       "--executor": None if executor == "local" else executor,
                       "--allow-truncated": allow_truncated or None}
        given = [flag for flag, value in speech_only.items() if value is not None]
        if given:
            raise BadInputError(f"{', '.join(given)}: audio option(s), not for --dataset images")
        detect_images(list(paths or []), dataset, detector, threshold, as_json)
        return
    settings = GuardSettings(asr, (_detector_choice(detector, comparator, tts, voice),), threshold, max_seconds)
    if example not in ("human", "tts"):
        raise BadInputError(f"--example must be 'human' or 'tts', got {example!r}")
    given = list(paths or [])
    batch = len(given) > 1 or jsonl is not None or executor != "local" or any(p.is_dir() for p in given)
    if not batch:
        _detect_one(settings, given[0] if given else None, as_json, example, seed, allow_truncated)
        return
    if as_json:
        raise BadInputError("--json prints one verdict; a batch writes JSON lines (to --jsonl OUT or stdout)")
    if allow_truncated:
        raise BadInputError("--allow-truncated applies to one FILE, not to a batch")
    _detect_batch(settings, find_audio_files(given), jsonl, executor, address, threads)


def _detector_choice(
    detector: str | None, comparator: str | None, tts: str | None, voice: str | None
) -> str | DetectorConfig:
    """A detector name, or the custom configuration --comparator/--tts/--voice build."""
    from synthcheck.detect import custom_config
    from synthcheck.detect.configs import resolve_config_name
    from synthcheck.errors import BadInputError
    from synthcheck.tts import get_synthesizer

    custom = comparator is not None or tts is not None or voice is not None
    if custom and detector is not None:
        raise BadInputError("--comparator/--tts/--voice build a custom detector; do not combine them with --detector")
    if custom:
        return custom_config(comparator or "xcorr-paper", get_synthesizer(tts or "pico2wave", voice).id)
    name = detector or DEFAULT_DETECTOR
    resolve_config_name(name, "")  # an unknown name fails here, before any model loads
    return name


def _detect_one(
    settings: GuardSettings, path: Path | None, as_json: bool, example: str, seed: int, allow_truncated: bool
) -> None:
    from synthcheck.audio.io import load_audio
    from synthcheck.examples import example_audio, example_sentence, human_example_audio
    from synthcheck.guard import Guard

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if path is None and example == "human":
        err.print(f"no FILE given: checking the built-in example {example_sentence()!r} (read by a LibriVox volunteer)")
        audio = human_example_audio()
    elif path is None:
        err.print(f"no FILE given: checking the built-in example {example_sentence()!r} (pico2wave, 28 dB AWGN, seed {seed})")
        audio = example_audio(seed)
    else:
        audio = load_audio(path, max_seconds=settings.max_seconds, allow_truncated=allow_truncated)
    verdict = Guard(settings).check(audio)
    if as_json:
        typer.echo(json.dumps(verdict.to_dict()))
    else:
        render_verdict(verdict, Console(highlight=False, soft_wrap=True))


def render_verdict(verdict: Verdict, out: Console) -> None:
    """The human-readable verdict: transcript, score vs threshold, each member, the windows, timings."""
    out.print(f"transcript  {escape(repr(verdict.transcript))}  ({verdict.recognizer})")  # attacker-chosen text
    out.print(f"detector    {verdict.detector}: {verdict.comparator}, {_rendering_label(verdict)}")
    out.print(f"score       {verdict.score:.3f} vs threshold {verdict.threshold:.3f}")
    for name, member in verdict.details.get("members", {}).items():
        mark = "passes" if member["consistent"] else "FAILS"
        out.print(f"  member    {name}: {member['score']:.3f} vs {member['threshold']:.3f} ({mark})")
    windows = verdict.details.get("windows", [])
    if windows:
        decisive = windows[verdict.details["decisive_window"]]
        scores = ", ".join(f"{w['score']:.3f}" for w in windows)
        out.print(f"windows     {len(windows)} (scores {scores}); the lowest, from {decisive['start_s']:.1f} s, decides")
    if verdict.consistent:
        out.print("verdict     [bold green]consistent[/]: the input matches its transcript")
    else:
        out.print("verdict     [bold red]INCONSISTENT[/]: possibly adversarial; the input does not match its transcript")
    if verdict.reason:
        out.print(f"reason      {escape(verdict.reason)}")
    out.print("timings     " + "  ".join(f"{name} {seconds:.2f} s" for name, seconds in verdict.timings.items()))


def _rendering_label(verdict: Verdict) -> str:
    if verdict.synthesizer == "none":
        return "no re-synthesis"
    if "voice" not in verdict.details:
        return f"re-synthesis {verdict.synthesizer}"
    take = f"{verdict.details['voice']} at speed {verdict.details['speed']:g}"
    return f"re-synthesis {verdict.synthesizer}, best take {take}"


def _detect_batch(settings: GuardSettings, files: list[str], jsonl: Path | None, executor_name: str,
                  address: str | None, threads: int) -> None:
    from synthcheck.errors import BadInputError
    from synthcheck.experiments.executors import make_executor
    from synthcheck.guard import BatchLog, run_batch

    if not files:
        raise BadInputError("no audio files (.wav, .flac, .ogg, .mp3) in the given paths")
    log_file = BatchLog(jsonl) if jsonl is not None else None
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    lines = PlainProgressLines(err)
    columns = (TextColumn("[bold]detect[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with make_executor(executor_name, address, threads) as executor, \
            Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("detect", total=len(files), status="")
        counts = {"done": 0, "flagged": 0, "failed": 0}

        def on_result(result: FileCheck) -> None:
            if log_file is None:
                sys.stdout.write(json.dumps(result.to_dict()) + "\n")
                sys.stdout.flush()
            counts["done"] += 1
            counts["flagged"] += int(result.flagged)
            counts["failed"] += int(not result.ok)
            status = f"{counts['flagged']} flagged, {counts['failed']} failed"
            bar.update(task, advance=1, status=status)
            lines.update("detect", counts["done"], len(files), status)

        summary = run_batch(settings, files, log_file=log_file, executor=executor, on_result=on_result)
        bar.update(task, completed=len(files))
    err.print(_summary_line(summary, jsonl))


def _summary_line(summary: BatchSummary, jsonl: Path | None) -> str:
    per_second = summary.seconds_per_audio_second
    speed = f"; {per_second:.2f} s per second of audio" if summary.checked else ""
    skipped = f", {summary.skipped} already in {jsonl} (skipped)" if summary.skipped else ""
    where = f"; lines in {jsonl}" if jsonl is not None else ""
    files = "file" if summary.checked == 1 else "files"
    return (f"checked {summary.checked} {files} ({summary.audio_seconds:.1f} s of audio): {summary.flagged} flagged "
            f"inconsistent, {summary.failed} failed{skipped}; {summary.wall_seconds:.1f} s{speed}{where}")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default loopback only)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free one, printed)."),
    asr: str = _ASR,
    detectors: list[str] | None = typer.Option(
        None, "--detector", metavar="NAME", help=f"Detector to load (repeat for several; the first is the default): "
        f"{', '.join(DETECTOR_NAMES)}. Default {DEFAULT_DETECTOR}.",
    ),
    max_seconds: float = typer.Option(120.0, "--max-seconds", help="Refuse longer recordings (413)."),
    max_bytes: int = typer.Option(20 * 1024 * 1024, "--max-bytes", help="Refuse larger uploads (413)."),
    queue_size: int = typer.Option(8, "--queue", min=0, help="Requests that may wait while one is checked (more: 503)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds a request may wait for its verdict (then 504)."),
    token_env: str = typer.Option(
        "SYNTHCHECK_TOKEN", "--token-env", metavar="VAR",
        help="Environment variable holding a bearer token required on /v1/* (unset: no token).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed (the checks are deterministic; kept for every command)."),
) -> None:
    """Serve the guard over HTTP: POST /v1/check, GET /v1/detectors, GET /health, a page at /.

    The models load once before the port opens. Stop with Ctrl-C.
    """
    import uvicorn

    from synthcheck.errors import BadInputError
    from synthcheck.guard import Guard, GuardSettings
    from synthcheck.guard.service import CheckQueue, ServiceLimits, create_app

    del seed  # nothing random happens in a check
    token = os.environ.get(token_env) or None
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        raise BadInputError(f"binding to {host} exposes the service beyond this machine; set a bearer token in "
                            f"${token_env} first")
    limits = ServiceLimits(max_bytes=max_bytes, max_seconds=max_seconds, queue_size=queue_size, timeout_s=timeout,
                           token=token)
    names = tuple(detectors or (DEFAULT_DETECTOR,))
    for name in names:
        _detector_choice(name, None, None, None)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    listener = _bind(host, port)  # a taken port fails before the models load; connections wait in the backlog
    err.print(f"loading {asr} and {', '.join(names)} …")
    queue = CheckQueue.for_limits(limits)
    guard = queue.call(Guard, GuardSettings(asr, names))  # loaded on the thread that runs the checks (see call)
    app = create_app(guard, limits, queue)
    config = uvicorn.Config(app, log_level="warning", limit_concurrency=4 * queue.capacity + 8, timeout_keep_alive=5)
    bound_host, bound_port = listener.getsockname()[:2]
    auth = " (bearer token required on /v1/*)" if token is not None else ""
    err.print(f"serving on http://{bound_host}:{bound_port}/{auth}; Ctrl-C stops")
    uvicorn.Server(config).run(sockets=[listener])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or a one-line error when it is taken."""
    from synthcheck.errors import BadInputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise BadInputError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    listener.listen(128)
    return listener
