"""The TTS engine registry (tts/registry.py): one frozen config per engine, building real synthesisers."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from synthcheck.asr import get_recognizer
from synthcheck.errors import BadInputError
from synthcheck.tts import ENGINE_CONFIGS, EspeakNg, Flite, Pico2Wave, get_synthesizer

CLASSES = {"pico2wave": Pico2Wave, "espeak-ng": EspeakNg, "flite": Flite}


def test_listing_the_engines_imports_no_torch() -> None:
    code = ("import sys; from synthcheck.tts.registry import ENGINE_CONFIGS; "
            "print(*ENGINE_CONFIGS.names, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["pico2wave", "espeak-ng", "flite", "False"]


def test_unknown_engine_lists_the_engines() -> None:
    with pytest.raises(BadInputError, match="unknown TTS engine 'festival'; choose one of: pico2wave, espeak-ng, flite$"):
        ENGINE_CONFIGS["festival"]


@pytest.mark.parametrize("engine", list(CLASSES))
def test_each_engine_builds_its_synthesiser_which_speaks_words(engine: str) -> None:
    config = ENGINE_CONFIGS[engine]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.synthesizer = Flite  # type: ignore[misc]
    default = config.build()
    assert type(default) is CLASSES[engine] and config.name == engine == default.engine
    assert default.voice == CLASSES[engine].default_voice and get_synthesizer(engine).id == default.id
    audio = default.synthesize("Good morning.")
    assert audio.dtype == np.float32 and 0.3 < audio.size / 16000 < 3.0
    heard = get_recognizer("whisper-tiny.en").transcribe(audio)
    assert "morning" in heard.lower(), heard


def test_build_takes_a_voice() -> None:
    assert ENGINE_CONFIGS["pico2wave"].build("en-GB").id == "pico2wave:en-GB"
    with pytest.raises(BadInputError, match="pico2wave has no voice 'de-DE'"):
        ENGINE_CONFIGS["pico2wave"].build("de-DE")
