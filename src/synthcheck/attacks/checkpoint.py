"""Attack checkpoints: the whole state of an attack loop in one file, so a killed batch resumes where it was.

:meth:`Attack.run(..., checkpoint=...) <synthcheck.attacks.base.Attack.run>` saves its state (perturbations, Adam
moments and step counters, per-item bounds, kept candidates, best dB_x, first-success steps, loss curves, the
step count and elapsed time) whenever :meth:`AttackCheckpoint.due` says so and once more when the loop ends, and
loads it at the start. A resumed run gives bit-identical results to an uninterrupted one with the same seed.

The file is written atomically (``torch.save`` into memory, then temp file, fsync, rename), so a kill leaves
the previous checkpoint or the new one, never a torn file. It is loaded with ``weights_only=True`` (tensors,
numbers, strings, lists and dicts only). Each checkpoint carries the key of the batch it belongs to (a hash of
the utterances, targets, seed, attack kind, recogniser and settings); a file with another key, or one that
cannot be read, is ignored (logged) and overwritten, so a changed config never resumes a stale state.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synthcheck.cache import atomic_write_bytes
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: Stored with every checkpoint; a file of another format version is ignored.
FORMAT_VERSION = 1


def check_interval(seconds: float) -> float:
    """``seconds`` as a checkpoint interval (0: after every step); NaN and negative values are refused."""
    if not seconds >= 0:
        raise BadInputError(f"the checkpoint interval must be >= 0 seconds, got {seconds}")
    return seconds


@dataclass
class AttackCheckpoint:
    """Where and how often one attack batch saves its state.

    Parameters
    ----------
    path
        The checkpoint file (its directory is created on the first save).
    every_seconds
        Save when at least this many seconds have passed since the last save (0: after every step).
    """

    path: Path
    every_seconds: float = 10.0
    _last_save: float = field(default_factory=time.monotonic, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        check_interval(self.every_seconds)

    def due(self) -> bool:
        """Whether the interval since the last save (or since creation / :meth:`load`) has passed."""
        return time.monotonic() - self._last_save >= self.every_seconds

    def save(self, key: str, state: dict[str, Any]) -> None:
        """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) under the batch ``key``.

        Raises
        ------
        StorageError
            The file could not be written (no space, read-only directory); the previous checkpoint is intact.
        """
        buffer = io.BytesIO()
        torch.save({"format": FORMAT_VERSION, "key": key, "state": state}, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())  # a failed write is a StorageError
        self._last_save = time.monotonic()

    def load(self, key: str) -> dict[str, Any] | None:
        """The state saved under ``key``, or None (no file, another batch's key, or an unreadable file)."""
        self._last_save = time.monotonic()
        if not self.path.is_file():
            return None
        try:
            stored = torch.load(self.path, weights_only=True)
        except Exception as exc:  # a file of another version or not a checkpoint at all: start afresh
            log.warning("%s: not a readable attack checkpoint (%s); starting the batch afresh", self.path, exc)
            return None
        if not isinstance(stored, dict) or stored.get("format") != FORMAT_VERSION or stored.get("key") != key:
            log.info("%s belongs to another batch or settings; starting the batch afresh", self.path)
            return None
        return stored["state"]

    def delete(self) -> None:
        """Remove the checkpoint file (after the batch's results are committed)."""
        self.path.unlink(missing_ok=True)


__all__ = ["FORMAT_VERSION", "AttackCheckpoint", "check_interval"]
