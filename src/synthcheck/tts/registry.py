"""TTS engines by name: each engine maps to a frozen :class:`EngineConfig` whose :meth:`~EngineConfig.build`
makes its synthesiser for a voice; ``engine:voice`` ids, and the voices that work on this machine."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from synthcheck.errors import SynthcheckError
from synthcheck.registry import Registry
from synthcheck.tts.engine import CommandLineSynthesizer
from synthcheck.tts.espeak import EspeakNg
from synthcheck.tts.flite import Flite
from synthcheck.tts.pico2wave import Pico2Wave

log = logging.getLogger(__name__)

DEFAULT_ENGINE = "pico2wave"
_PROBE_TEXT = "test"


@dataclass(frozen=True)
class EngineConfig:
    """A TTS engine: the synthesiser class, named by its ``engine`` attribute (its ``default_voice`` and
    ``listed_voices`` say which voices it speaks)."""

    synthesizer: type[CommandLineSynthesizer]

    @property
    def name(self) -> str:
        """The engine name, e.g. ``"pico2wave"``."""
        return self.synthesizer.engine

    def build(self, voice: str | None = None) -> CommandLineSynthesizer:
        """The synthesiser speaking with ``voice`` (the engine's default when ``None``).

        Raises
        ------
        BadInputError
            Unknown voice.
        MissingComponentError
            The engine is not installed (for engines that must be asked about their voices).
        """
        return self.synthesizer(voice)


#: Every TTS engine by name (see the table in :mod:`synthcheck.tts`).
ENGINE_CONFIGS: Registry[EngineConfig] = Registry("TTS engine", [EngineConfig(Pico2Wave), EngineConfig(EspeakNg),
                                                                 EngineConfig(Flite)])


def get_synthesizer(engine: str = DEFAULT_ENGINE, voice: str | None = None) -> CommandLineSynthesizer:
    """The synthesiser of ``engine`` with ``voice`` (the engine's default when ``None``).

    Raises
    ------
    BadInputError
        Unknown engine (the message lists the engines) or voice.
    MissingComponentError
        The engine is not installed (for engines that must be asked about their voices).
    """
    return ENGINE_CONFIGS[engine].build(voice)


def synthesizer_from_id(synth_id: str) -> CommandLineSynthesizer:
    """Parse ``"engine:voice"`` (or just ``"engine"``) as printed by :attr:`Synthesizer.id`."""
    engine, _, voice = synth_id.strip().partition(":")
    return get_synthesizer(engine, voice or None)


@lru_cache(maxsize=1)
def list_voices() -> list[str]:
    """``engine:voice`` ids of the offered voices that really render audio here (probed once per process)."""
    working = []
    for config in ENGINE_CONFIGS.values():
        for voice in config.synthesizer.listed_voices:
            try:
                config.build(voice).synthesize(_PROBE_TEXT)
            except SynthcheckError as exc:
                log.info("voice %s:%s unavailable: %s", config.name, voice, exc)
                continue
            working.append(f"{config.name}:{voice}")
    return working
