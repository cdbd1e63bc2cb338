"""Shared machinery of command-line TTS engines: executable lookup, subprocess, disk cache, silence check."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
from abc import abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import NoReturn

import numpy as np
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, resample, to_mono
from synthcheck.cache import atomic_write_bytes, cache_dir, content_key, file_sha256
from synthcheck.errors import BadInputError, MissingComponentError, SynthcheckError
from synthcheck.tts.base import Synthesizer
from synthcheck.tts.text import speakable_text

log = logging.getLogger(__name__)

#: Rendered audio whose peak stays below this (-40 dBFS) counts as "engine produced no audio".
NO_AUDIO_PEAK = 0.01


class CommandLineSynthesizer(Synthesizer):
    """A TTS engine run as a subprocess (argument list, timeout) writing a temporary WAV file.

    Subclasses set the class attributes and implement :meth:`command`; results are cached under
    ``cache_dir("tts")`` keyed by (engine, voice, cleaned text, engine version) as float32 ``.npy``.
    """

    #: Executable looked up on ``PATH``.
    executable: str = ""
    #: Debian package providing the executable (named in the "not installed" message).
    debian_package: str = ""
    #: Voice used when none is given.
    default_voice: str = ""
    #: Voices offered by :func:`synthcheck.tts.list_voices` (those that also render here are listed).
    listed_voices: tuple[str, ...] = ()
    #: Arguments printing the engine version, or ``()`` when the engine has none.
    version_args: tuple[str, ...] = ()
    #: Seconds before a render is abandoned (plus 0.05 s per character).
    timeout_s: float = 30.0

    def __init__(self, voice: str | None = None) -> None:
        self.voice = voice or self.default_voice
        self.check_voice(self.voice)

    @abstractmethod
    def command(self, executable: str, text: str, text_file: Path, wav_file: Path) -> list[str]:
        """The argument list rendering ``text`` (also in ``text_file``, UTF-8) to ``wav_file``."""

    def check_voice(self, voice: str) -> None:
        """Raise :class:`BadInputError` if ``voice`` is not available (default: accept)."""

    def executable_path(self) -> str:
        """Absolute path of the engine executable.

        Raises
        ------
        MissingComponentError
            The executable is not on ``PATH``.
        """
        path = shutil.which(self.executable)
        if path is None:
            raise MissingComponentError(
                f"{self.engine} is not installed ({self.executable!r} not found on PATH); "
                f"install the Debian package {self.debian_package}: sudo apt-get install {self.debian_package}"
            )
        return path

    def engine_version(self) -> str:
        """A string that changes when the engine changes (version output and executable hash)."""
        return _engine_version(self.executable_path(), self.version_args)

    def synthesize(self, text: str) -> np.ndarray:
        """Render ``text`` as 16 kHz mono float32 (cached on disk).

        Raises
        ------
        BadInputError
            Empty or unspeakable text, or the engine produced no audio.
        MissingComponentError
            The engine is not installed.
        """
        spoken = speakable_text(text)
        key = content_key(self.engine, self.voice, spoken, self.engine_version())
        path = cache_dir("tts") / f"{key}.npy"
        if path.exists():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                log.warning("unreadable TTS cache entry %s; rendering again", path)
        audio = self.render(spoken)
        buffer = io.BytesIO()
        np.save(buffer, audio, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        return audio

    def render(self, text: str) -> np.ndarray:
        """Run the engine on already-cleaned ``text`` (no cache) and return 16 kHz float32 audio."""
        executable = self.executable_path()
        timeout = self.timeout_s + 0.05 * len(text)
        with tempfile.TemporaryDirectory(prefix="synthcheck-tts-") as tmp:
            text_file, wav_file = Path(tmp, "text.txt"), Path(tmp, "out.wav")
            text_file.write_text(text, encoding="utf-8")
            args = self.command(executable, text, text_file, wav_file)
            log.info("rendering %d characters with %s", len(text), self.id)
            try:
                done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise SynthcheckError(f"{self.id}: engine timed out after {timeout:.0f} s; shorten the text") from None
            if done.returncode != 0:
                self.raise_engine_error(done.returncode, done.stderr.decode("utf-8", "replace"))
            if not wav_file.exists() or wav_file.stat().st_size == 0:
                raise BadInputError(f"{self.id}: engine produced no audio for {ascii(text[:40])}")
            data, rate = sf.read(str(wav_file), dtype="float32", always_2d=True)
        audio = resample(to_mono(data), rate, SAMPLE_RATE)
        if audio.size == 0 or float(np.max(np.abs(audio))) < NO_AUDIO_PEAK:
            raise BadInputError(
                f"{self.id}: engine produced no audio for {ascii(text[:40])}; this voice cannot speak that text"
            )
        return np.ascontiguousarray(audio, dtype=np.float32)

    def raise_engine_error(self, returncode: int, stderr: str) -> NoReturn:
        """Turn a failed engine run into a one-line :class:`SynthcheckError`."""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = lines[0][:160] if lines else "no message"
        raise SynthcheckError(f"{self.id}: {self.executable} failed with exit status {returncode}: {detail}")


@lru_cache(maxsize=16)
def _engine_version(executable: str, version_args: tuple[str, ...]) -> str:
    parts = [file_sha256(Path(executable).resolve())]
    if version_args:
        done = subprocess.run([executable, *version_args], capture_output=True, timeout=10, check=False)
        parts.append((done.stdout + done.stderr).decode("utf-8", "replace").strip())
    return "\n".join(parts)
