"""The recogniser registry (asr/registry.py): frozen configs by name, lazy imports, one shared recogniser each."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from synthcheck.asr import RECOGNIZER_CONFIGS, RECOGNIZERS, DifferentiableRecognizer, get_recognizer
from synthcheck.asr.pocketsphinx import PocketsphinxRecognizer
from synthcheck.asr.whisper import WhisperRecognizer
from synthcheck.errors import BadInputError
from synthcheck.tts import Pico2Wave


def test_listing_the_names_loads_neither_torch_nor_pocketsphinx() -> None:
    code = ("import sys; from synthcheck.asr.registry import RECOGNIZERS; assert len(RECOGNIZERS) == 3; "
            "print('torch' in sys.modules, 'pocketsphinx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_names_are_the_registry_and_configs_are_frozen_and_described() -> None:
    assert RECOGNIZERS == RECOGNIZER_CONFIGS.names == ("whisper-tiny.en", "whisper-base", "pocketsphinx")
    for name, config in RECOGNIZER_CONFIGS.items():
        assert config.name == name and config.description
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.options = ()  # type: ignore[misc]


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(BadInputError, match="unknown recogniser 'whisper-large'; choose one of: whisper-tiny.en, "
                                            "whisper-base, pocketsphinx$"):
        get_recognizer("whisper-large")
    with pytest.raises(BadInputError, match="choose one of: whisper-tiny.en"):
        RECOGNIZER_CONFIGS["sphinx"]


def test_pocketsphinx_builds_a_fresh_recogniser_and_get_recognizer_shares_one() -> None:
    built = RECOGNIZER_CONFIGS["pocketsphinx"].build()
    assert isinstance(built, PocketsphinxRecognizer) and not isinstance(built, DifferentiableRecognizer)
    assert get_recognizer("pocketsphinx") is get_recognizer("pocketsphinx") is not built
    heard = built.transcribe(Pico2Wave("en-US").synthesize("Good morning."))
    assert "morning" in heard.split(), heard


def test_whisper_name_builds_the_whisper_of_that_size() -> None:
    tiny = get_recognizer("whisper-tiny.en")
    assert isinstance(tiny, WhisperRecognizer) and isinstance(tiny, DifferentiableRecognizer)
    assert tiny.name == "whisper-tiny.en"
    heard = tiny.transcribe(Pico2Wave("en-US").synthesize("Good morning."))
    assert "morning" in heard.lower(), heard
