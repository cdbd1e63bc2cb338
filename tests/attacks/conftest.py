"""Fixtures for the attack tests: real pico2wave speech and the real Whisper tiny.en recogniser."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from synthcheck.asr import get_recognizer
from synthcheck.audio.io import load_audio


def pico2wave(text: str, path: Path) -> Path:
    """Render ``text`` with the real pico2wave (en-US) into ``path`` (.wav)."""
    subprocess.run(["pico2wave", "-l", "en-US", "-w", str(path), text], check=True, timeout=60)
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attack_speech")
    pico2wave("hello world", root / "hello.wav")
    pico2wave("it was the best of times", root / "best.wav")
    return root


@pytest.fixture(scope="session")
def hello_wav(speech_dir: Path) -> Path:
    return speech_dir / "hello.wav"


@pytest.fixture(scope="session")
def hello(hello_wav: Path) -> np.ndarray:
    return load_audio(hello_wav)


@pytest.fixture(scope="session")
def best(speech_dir: Path) -> np.ndarray:
    return load_audio(speech_dir / "best.wav")


@pytest.fixture(scope="session")
def tiny():
    return get_recognizer("whisper-tiny.en")
