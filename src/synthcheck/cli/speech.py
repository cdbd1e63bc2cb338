"""Speech sub-commands: ``synthesize``, ``voices``, ``transcribe`` (``detect`` and ``serve``: :mod:`synthcheck.cli.guard`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthcheck.asr.registry import RECOGNIZERS

#: Recogniser used when ``--asr`` is not given (one place to change it).
DEFAULT_ASR = "pocketsphinx"
#: ``--allow-truncated``, shared by the commands that read audio files.
ALLOW_TRUNCATED = typer.Option(
    False, "--allow-truncated", help="Use a WAV cut short (fewer samples than its header says) with a warning."
)


def register(app: typer.Typer) -> None:
    """Add ``synthesize``, ``voices`` and ``transcribe`` to ``app``."""
    app.command("synthesize")(synthesize)
    app.command("voices")(voices)
    app.command("transcribe")(transcribe)


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
    allow_truncated: bool = ALLOW_TRUNCATED,
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
