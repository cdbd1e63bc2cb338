"""Shared fixtures for the audio tests: real pico2wave speech."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synthcheck.audio.io import load_audio


@pytest.fixture(scope="session")
def pico_speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], np.ndarray]:
    """Return a function text -> 16 kHz float32 speech rendered by the real pico2wave (cached per text)."""
    if shutil.which("pico2wave") is None:
        pytest.fail("pico2wave is not installed (Debian package libttspico-utils, see scripts/setup.sh)")
    directory = tmp_path_factory.mktemp("pico")
    rendered: dict[str, np.ndarray] = {}

    def speak(text: str) -> np.ndarray:
        if text not in rendered:
            path = Path(directory, f"utt{len(rendered)}.wav")
            subprocess.run(["pico2wave", "-l", "en-US", "-w", str(path), text], check=True, timeout=60)
            rendered[text] = load_audio(path)
        return rendered[text]

    return speak
