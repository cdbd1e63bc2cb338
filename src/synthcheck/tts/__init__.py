"""Text-to-speech engines behind one interface (:class:`Synthesizer`): text in, 16 kHz float32 out.

=========  ==============================================================  ===========  ====================
engine     voices offered (``engine:voice`` ids)                          native rate  Debian package
=========  ==============================================================  ===========  ====================
pico2wave  en-US, en-GB                                                    16 kHz       libttspico-utils
espeak-ng  en-us, en, en-gb-scotland, en-gb-x-rp, en-029, en-us+f3 (any    22.05 kHz    espeak-ng
           accent ``+variant``)
flite      kal16, awb, rms, slt (kal at 8 kHz also accepted)               16 kHz       flite
=========  ==============================================================  ===========  ====================

:data:`ENGINE_CONFIGS` is the registry of engines (name → :class:`EngineConfig`, ``build(voice)``).
Everything is resampled to 16 kHz and cached on disk (``cache_dir("tts")``). Text clean-up rules:
:mod:`synthcheck.tts.text`.
"""

from synthcheck.tts.base import Synthesizer
from synthcheck.tts.espeak import EspeakNg
from synthcheck.tts.flite import Flite
from synthcheck.tts.pico2wave import Pico2Wave
from synthcheck.tts.registry import (
    DEFAULT_ENGINE,
    ENGINE_CONFIGS,
    EngineConfig,
    get_synthesizer,
    list_voices,
    synthesizer_from_id,
)
from synthcheck.tts.text import speakable_text

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINE_CONFIGS",
    "EngineConfig",
    "EspeakNg",
    "Flite",
    "Pico2Wave",
    "Synthesizer",
    "get_synthesizer",
    "list_voices",
    "speakable_text",
    "synthesizer_from_id",
]
