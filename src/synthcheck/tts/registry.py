"""Synthesisers by engine name or ``engine:voice`` id, and the voices that work on this machine."""

from __future__ import annotations

import logging
from functools import lru_cache

from synthcheck.errors import BadInputError, SynthcheckError
from synthcheck.tts.engine import CommandLineSynthesizer
from synthcheck.tts.espeak import EspeakNg
from synthcheck.tts.flite import Flite
from synthcheck.tts.pico2wave import Pico2Wave

log = logging.getLogger(__name__)

#: Engine name -> class.
ENGINES: dict[str, type[CommandLineSynthesizer]] = {cls.engine: cls for cls in (Pico2Wave, EspeakNg, Flite)}
DEFAULT_ENGINE = "pico2wave"
_PROBE_TEXT = "test"


def get_synthesizer(engine: str = DEFAULT_ENGINE, voice: str | None = None) -> CommandLineSynthesizer:
    """Return the synthesiser for ``engine`` with ``voice`` (the engine's default when ``None``).

    Raises
    ------
    BadInputError
        Unknown engine or voice.
    MissingComponentError
        The engine is not installed (for engines that must be asked about their voices).
    """
    cls = ENGINES.get(engine)
    if cls is None:
        raise BadInputError(f"unknown TTS engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    return cls(voice)


def synthesizer_from_id(synth_id: str) -> CommandLineSynthesizer:
    """Parse ``"engine:voice"`` (or just ``"engine"``) as printed by :attr:`Synthesizer.id`."""
    engine, _, voice = synth_id.strip().partition(":")
    return get_synthesizer(engine, voice or None)


@lru_cache(maxsize=1)
def list_voices() -> list[str]:
    """``engine:voice`` ids of the offered voices that really render audio here (probed once per process)."""
    working = []
    for cls in ENGINES.values():
        for voice in cls.listed_voices:
            try:
                cls(voice).synthesize(_PROBE_TEXT)
            except SynthcheckError as exc:
                log.info("voice %s:%s unavailable: %s", cls.engine, voice, exc)
                continue
            working.append(f"{cls.engine}:{voice}")
    return working
