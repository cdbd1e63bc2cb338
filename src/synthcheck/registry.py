"""The one shape of every registry: a name → a frozen config whose ``build(...)`` makes the thing.

Recognisers, TTS engines, comparators, detectors, datasets and attack kinds are all a :class:`Registry` of
frozen dataclass configs with a ``name`` attribute and a ``build`` method. Listing a registry's names imports
nothing heavy (configs name what they build; the import happens in ``build``); an unknown name is a
:class:`~synthcheck.errors.BadInputError` that lists the known ones.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Greeting:
...     name: str
...     text: str
...     def build(self) -> str:
...         return self.text
>>> greetings = Registry("greeting", [Greeting("hello", "hi there")])
>>> greetings["hello"].build()
'hi there'
>>> greetings.names
('hello',)
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from synthcheck.errors import BadInputError


class Config(Protocol):
    """What a registry holds: a frozen config with a ``name`` (its ``build`` signature is the registry's own)."""

    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=Config)


class Registry(Mapping[str, C], Generic[C]):
    """An ordered, read-only ``name → config`` mapping whose lookups fail with a clear message.

    Parameters
    ----------
    what
        What the entries are, for messages ("recogniser", "detector").
    configs
        The entries, in the order listings show them; names must be unique.
    """

    def __init__(self, what: str, configs: Iterable[C]) -> None:
        self.what = what
        self._configs: dict[str, C] = {}
        for config in configs:
            if config.name in self._configs:
                raise ValueError(f"{what} registry: {config.name!r} registered twice")
            self._configs[config.name] = config

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in order."""
        return tuple(self._configs)

    def __getitem__(self, name: str) -> C:
        try:
            return self._configs[name]
        except (KeyError, TypeError):
            raise BadInputError(f"unknown {self.what} {name!r}; choose one of: {', '.join(self._configs)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._configs

    def get(self, name: str, default: C | None = None) -> C | None:
        """The config called ``name``, or ``default`` when there is none (no error)."""
        return self._configs.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._configs)})"


def import_object(module: str, qualname: str) -> Any:
    """The object ``module.qualname``, importing ``module`` now: how configs name what they build lazily.

    Parameters
    ----------
    module
        Dotted module path, e.g. ``"synthcheck.asr.whisper"``.
    qualname
        Attribute path inside the module, e.g. ``"WhisperRecognizer.load"``.
    """
    return functools.reduce(getattr, qualname.split("."), importlib.import_module(module))


__all__ = ["Config", "Registry", "import_object"]
