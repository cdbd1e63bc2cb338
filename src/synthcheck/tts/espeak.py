"""eSpeak NG (``espeak-ng``): formant synthesis at 22.05 kHz (resampled to 16 kHz); accents and ``+variant``s."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from synthcheck.errors import BadInputError
from synthcheck.tts.engine import CommandLineSynthesizer


class EspeakNg(CommandLineSynthesizer):
    """espeak-ng; voice ``ACCENT`` or ``ACCENT+VARIANT`` (e.g. ``en-us+f3``); text read from a file."""

    engine = "espeak-ng"
    executable = "espeak-ng"
    debian_package = "espeak-ng"
    default_voice = "en-us"
    listed_voices = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3")
    version_args = ("--version",)

    def check_voice(self, voice: str) -> None:
        """Ask espeak-ng whether the accent exists and look the variant up in its variant list."""
        accent, _, variant = voice.partition("+")
        executable = self.executable_path()
        if not _accent_exists(executable, accent):
            raise BadInputError(f"espeak-ng has no voice {accent!r}; list them with `espeak-ng --voices=en`")
        if variant and variant not in _variants(executable):
            raise BadInputError(f"espeak-ng has no variant {variant!r}; list them with `espeak-ng --voices=variant`")

    def command(self, executable: str, text: str, text_file: Path, wav_file: Path) -> list[str]:
        """``espeak-ng -v VOICE -w OUT.wav -f TEXT.txt``."""
        return [executable, "-v", self.voice, "-w", str(wav_file), "-f", str(text_file)]


@lru_cache(maxsize=32)
def _accent_exists(executable: str, accent: str) -> bool:
    done = subprocess.run([executable, "-q", "-v", accent, "x"], capture_output=True, timeout=10, check=False)
    return done.returncode == 0


@lru_cache(maxsize=4)
def _variants(executable: str) -> frozenset[str]:
    done = subprocess.run([executable, "--voices=variant"], capture_output=True, timeout=10, check=False)
    names = set()
    for line in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            names.add(fields[4].removeprefix("!v/"))
    return frozenset(names)
