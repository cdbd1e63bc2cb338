"""The settings file of a work directory (``evaluate-detectors``, ``robustness``): written by the command, read
back to re-render it, refused in one line when it is not what the command wrote."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from synthcheck.errors import BadInputError

#: The settings file's name inside a work directory.
SETTINGS_FILE = "settings.json"

S = TypeVar("S")


def settings_from_dict(cls: type[S], data: dict[str, Any], what: str) -> S:
    """``cls(**data)`` for a settings dataclass, refusing keys it does not have (``what`` names it in the message)."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise BadInputError(f"{what}: unknown key(s) {', '.join(unknown)}")
    return cls(**data)


def read_settings_file(work_dir: Path, cls: type[S], expected: str) -> S:
    """The settings ``cls.from_dict`` reads from ``work_dir``'s :data:`SETTINGS_FILE`.

    ``expected`` describes the directory to give instead, e.g. ``"runs/detectors-<hash>/ that evaluate-detectors
    wrote"``.

    Raises
    ------
    BadInputError
        No settings file; not UTF-8 JSON; not an object; unknown keys or values of the wrong type.
    """
    path = Path(work_dir) / SETTINGS_FILE
    if not path.is_file():
        raise BadInputError(f"{work_dir}: no {SETTINGS_FILE}; give a work directory {expected}")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path}: not a JSON settings file ({exc})") from None
    if not isinstance(stored, dict):
        raise BadInputError(f"{path}: must be a JSON object of settings")
    try:
        return cls.from_dict(stored)  # type: ignore[attr-defined]
    except (BadInputError, TypeError) as exc:  # TypeError: a value of the wrong type
        raise BadInputError(f"{path}: {exc}") from None


__all__ = ["SETTINGS_FILE", "read_settings_file", "settings_from_dict"]
