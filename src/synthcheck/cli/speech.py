"""Speech sub-commands: ``synthesize``, ``voices``, ``transcribe``, ``detect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.registry import RECOGNIZERS
from synthcheck.detect.configs import DEFAULT_DETECTOR, DETECTOR_NAMES
from synthcheck.detect.registry import COMPARATORS

if TYPE_CHECKING:
    from synthcheck.detect import Verdict

#: Recogniser used when ``--asr`` is not given (one place to change it).
DEFAULT_ASR = "pocketsphinx"
#: Recogniser protected by ``detect`` when ``--asr`` is not given: the default detector's thresholds were
#: calibrated on its transcripts (pocketsphinx mishears ~28 % of words, which the likelihood judge flags).
DEFAULT_DETECT_ASR = "whisper-base"
_ALLOW_TRUNCATED = typer.Option(
    False, "--allow-truncated", help="Use a WAV cut short (fewer samples than its header says) with a warning."
)


def register(app: typer.Typer) -> None:
    """Add ``synthesize``, ``voices``, ``transcribe`` and ``detect`` to ``app``."""
    app.command("synthesize")(synthesize)
    app.command("voices")(voices)
    app.command("transcribe")(transcribe)
    app.command("detect")(detect)


def synthesize(
    text: str = typer.Argument(..., help="Text to speak."),
    output: Path = typer.Option(..., "--output", "-o", metavar="OUT.wav", help="16 kHz 16-bit WAV to write."),
    engine: str = typer.Option("pico2wave", "--engine", help="TTS engine: pico2wave, espeak-ng or flite."),
    voice: str | None = typer.Option(None, "--voice", help="Voice of the engine (see `synthcheck voices`)."),
) -> None:
    """Speak TEXT with a TTS engine and write OUT.wav."""
    from synthcheck.audio.io import SAMPLE_RATE, check_wav_output, save_wav
    from synthcheck.tts import get_synthesizer

    check_wav_output(output)
    synthesizer = get_synthesizer(engine, voice)
    audio = synthesizer.synthesize(text)
    save_wav(output, audio)
    Console(stderr=True, soft_wrap=True).print(f"wrote {output} ({audio.size / SAMPLE_RATE:.2f} s, {synthesizer.id})",
                                               highlight=False, markup=False)


def voices() -> None:
    """List the engine:voice ids that work on this machine."""
    from synthcheck.tts import list_voices

    for voice_id in list_voices():
        typer.echo(voice_id)


def transcribe(
    audio_path: Path = typer.Argument(..., metavar="FILE", help="Audio file (WAV/FLAC/OGG/MP3, any rate)."),
    asr: str = typer.Option(DEFAULT_ASR, "--asr", help=f"Recogniser: {', '.join(RECOGNIZERS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Refuse longer files (default 600)."),
    beam_size: int = typer.Option(1, "--beam-size", min=1, help="Whisper beam width; 1 is greedy decoding."),
    allow_truncated: bool = _ALLOW_TRUNCATED,
) -> None:
    """Transcribe FILE; recordings over 30 s are cut into windows at quiet points."""
    from synthcheck.asr.registry import get_recognizer
    from synthcheck.audio.io import SAMPLE_RATE, load_audio
    from synthcheck.errors import BadInputError

    if beam_size != 1 and asr in RECOGNIZERS and not asr.startswith("whisper-"):
        raise BadInputError(f"--beam-size applies to the Whisper recognisers only, not {asr}")
    audio = load_audio(audio_path, max_seconds=max_seconds, allow_truncated=allow_truncated)
    recognizer = get_recognizer(asr)
    if beam_size != 1:
        recognizer = recognizer.with_beam_size(beam_size)
    columns = (TextColumn("[bold]transcribe[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("transcribe", total=None)
        transcript = recognizer.transcribe(audio, progress=lambda done, total: bar.update(task, completed=done, total=total))
    windows = bar.tasks[0].total or 1
    if as_json:
        summary = {
            "file": str(audio_path),
            "recognizer": recognizer.name,
            "transcript": transcript,
            "seconds": audio.size / SAMPLE_RATE,
            "windows": int(windows),
        }
        typer.echo(json.dumps(summary))
    else:
        typer.echo(transcript)


def detect(
    audio_path: Path | None = typer.Argument(
        None, metavar="[FILE]", help="Audio to check; without it the built-in example is used."
    ),
    asr: str = typer.Option(DEFAULT_DETECT_ASR, "--asr", help=f"Recogniser: {', '.join(RECOGNIZERS)}."),
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
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    example: str = typer.Option("human", "--example", help="Without FILE: the built-in example to check, 'human' "
                                "(a LibriVox reader) or 'tts' (pico2wave through a 28 dB channel)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tts example's channel noise (used without FILE)."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Refuse longer files (default 600)."),
    allow_truncated: bool = _ALLOW_TRUNCATED,
) -> None:
    """Check whether FILE is consistent with its transcript (exit 0 whatever the verdict).

    --detector picks a named configuration. --comparator/--tts/--voice build a custom one instead (not with
    --detector): one voice (default pico2wave), a comparator (default xcorr-paper) and its calibrated threshold.
    """
    from synthcheck.asr.registry import get_recognizer
    from synthcheck.audio.io import load_audio
    from synthcheck.detect import DETECTOR_CONFIGS, custom_config
    from synthcheck.detect.configs import resolve_config_name
    from synthcheck.errors import BadInputError
    from synthcheck.examples import example_audio, example_sentence, human_example_audio
    from synthcheck.tts import get_synthesizer

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    custom = comparator is not None or tts is not None or voice is not None
    if custom and detector is not None:
        raise BadInputError("--comparator/--tts/--voice build a custom detector; do not combine them with --detector")
    if custom:
        config = custom_config(comparator or "xcorr-paper", get_synthesizer(tts or "pico2wave", voice).id)
    else:
        config = DETECTOR_CONFIGS[resolve_config_name(detector or DEFAULT_DETECTOR, asr)]
    if example not in ("human", "tts"):
        raise BadInputError(f"--example must be 'human' or 'tts', got {example!r}")
    if audio_path is None and example == "human":
        err.print(f"no FILE given: checking the built-in example {example_sentence()!r} (read by a LibriVox volunteer)")
        audio = human_example_audio()
    elif audio_path is None:
        err.print(f"no FILE given: checking the built-in example {example_sentence()!r} (pico2wave, 28 dB AWGN, seed {seed})")
        audio = example_audio(seed)
    else:
        audio = load_audio(audio_path, max_seconds=max_seconds, allow_truncated=allow_truncated)
    consistency = config.build(get_recognizer(asr), threshold)
    verdict = consistency.check(audio)
    if as_json:
        typer.echo(json.dumps(verdict.to_dict()))
        return
    out = Console(highlight=False, soft_wrap=True)
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
    out.print(_timings_line(verdict.timings))


def _rendering_label(verdict: Verdict) -> str:
    if verdict.synthesizer == "none":
        return "no re-synthesis"
    if "voice" not in verdict.details:
        return f"re-synthesis {verdict.synthesizer}"
    take = f"{verdict.details['voice']} at speed {verdict.details['speed']:g}"
    return f"re-synthesis {verdict.synthesizer}, best take {take}"


def _timings_line(timings: dict[str, float]) -> str:
    return "timings     " + "  ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items())
