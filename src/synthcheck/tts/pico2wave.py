"""SVOX Pico (``pico2wave``, Debian ``libttspico-utils``): 16 kHz, voices en-US and en-GB."""

from __future__ import annotations

from pathlib import Path

from synthcheck.errors import BadInputError
from synthcheck.tts.engine import CommandLineSynthesizer


class Pico2Wave(CommandLineSynthesizer):
    """pico2wave; the text is passed as one argument after ``--``."""

    engine = "pico2wave"
    executable = "pico2wave"
    debian_package = "libttspico-utils"
    default_voice = "en-US"
    listed_voices = ("en-US", "en-GB")

    def check_voice(self, voice: str) -> None:
        """Only the English languages of pico are offered."""
        if voice not in self.listed_voices:
            raise BadInputError(f"pico2wave has no voice {voice!r}; choose one of: {', '.join(self.listed_voices)}")

    def command(self, executable: str, text: str, text_file: Path, wav_file: Path) -> list[str]:
        """``pico2wave -l VOICE -w OUT.wav -- TEXT`` (the output name must end in .wav)."""
        return [executable, "-l", self.voice, "-w", str(wav_file), "--", text]
