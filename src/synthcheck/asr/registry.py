"""Recognisers by name: each name maps to a frozen :class:`RecognizerConfig` whose :meth:`~RecognizerConfig.build`
makes the recogniser.

A configuration names what it builds by module and attribute and imports it on :meth:`~RecognizerConfig.build`:
listing the names (CLI help texts) loads neither torch nor pocketsphinx.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from synthcheck.asr.base import Recognizer
from synthcheck.registry import Registry, import_object


@dataclass(frozen=True)
class RecognizerConfig:
    """A named recogniser: a one-line description and the factory (``module``, ``factory``) called with ``options``.

    ``factory`` is an attribute path inside ``module``: a class, or a classmethod such as
    ``"WhisperRecognizer.load"``. ``differentiable`` declares whether what it builds is a
    :class:`~synthcheck.asr.base.DifferentiableRecognizer` (ART's declared capabilities: a driver can refuse an
    attack on it before loading any model).
    """

    name: str
    description: str
    module: str
    factory: str
    options: tuple[tuple[str, Any], ...] = ()
    differentiable: bool = False

    def build(self) -> Recognizer:
        """A new recogniser of this configuration (loads its model: use :func:`get_recognizer` to share one)."""
        return import_object(self.module, self.factory)(**dict(self.options))


_WHISPER = "synthcheck.asr.whisper"

#: Every named recogniser.
RECOGNIZER_CONFIGS: Registry[RecognizerConfig] = Registry(
    "recogniser",
    [
        RecognizerConfig("whisper-tiny.en", "OpenAI Whisper tiny.en (English only) in PyTorch, differentiable",
                         _WHISPER, "WhisperRecognizer.load", (("size", "tiny.en"),), differentiable=True),
        RecognizerConfig("whisper-base", "OpenAI Whisper base (multilingual, decoding English) in PyTorch, "
                         "differentiable", _WHISPER, "WhisperRecognizer.load", (("size", "base"),), differentiable=True),
        RecognizerConfig("pocketsphinx", "CMU PocketSphinx 5 with its bundled en-us model, non-differentiable",
                         "synthcheck.asr.pocketsphinx", "PocketsphinxRecognizer"),
    ],
)
#: Recogniser names accepted by :func:`get_recognizer` (and the CLI's ``--asr``).
RECOGNIZERS = RECOGNIZER_CONFIGS.names


@lru_cache(maxsize=4)
def get_recognizer(name: str) -> Recognizer:
    """The shared recogniser called ``name`` (one of :data:`RECOGNIZERS`), built once per process.

    Raises
    ------
    BadInputError
        Unknown name (the message lists :data:`RECOGNIZERS`).
    """
    return RECOGNIZER_CONFIGS[name].build()
