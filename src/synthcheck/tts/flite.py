"""CMU Flite (``flite``): built-in voices kal16, awb, rms, slt at 16 kHz (kal at 8 kHz is resampled)."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from synthcheck.errors import BadInputError
from synthcheck.tts.engine import CommandLineSynthesizer


class Flite(CommandLineSynthesizer):
    """flite; unknown voices are refused up front (flite itself silently falls back to kal)."""

    engine = "flite"
    executable = "flite"
    debian_package = "flite"
    default_voice = "slt"
    listed_voices = ("kal16", "awb", "rms", "slt")
    version_args = ("--version",)

    def check_voice(self, voice: str) -> None:
        """The voice must be one that ``flite -lv`` reports."""
        available = _flite_voices(self.executable_path())
        if voice not in available:
            raise BadInputError(f"flite has no voice {voice!r}; choose one of: {', '.join(sorted(available))}")

    def command(self, executable: str, text: str, text_file: Path, wav_file: Path) -> list[str]:
        """``flite -voice VOICE -f TEXT.txt -o OUT.wav``."""
        return [executable, "-voice", self.voice, "-f", str(text_file), "-o", str(wav_file)]


@lru_cache(maxsize=4)
def _flite_voices(executable: str) -> frozenset[str]:
    done = subprocess.run([executable, "-lv"], capture_output=True, timeout=10, check=False)
    listing = done.stdout.decode("utf-8", "replace")
    return frozenset(listing.partition(":")[2].split())
