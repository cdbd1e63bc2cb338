"""User cache directory and atomic writes for expensive artefacts (converted weights, TTS audio)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from synthcheck.errors import storage_error


def cache_dir(*parts: str) -> Path:
    """Return ``$SYNTHCHECK_CACHE`` or ``$XDG_CACHE_HOME/synthcheck`` (default ``~/.cache``), joined with parts.

    The directory is created if needed.
    """
    root = os.environ.get("SYNTHCHECK_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "synthcheck")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_key(*items: str | bytes) -> str:
    """A short stable hex key for a tuple of strings/bytes (used as a cache file name)."""
    h = hashlib.sha256()
    for item in items:
        data = item.encode("utf-8") if isinstance(item, str) else item
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename).

    Raises
    ------
    StorageError
        The write failed (no space, read-only or missing permissions): one line saying what to do; ``path`` is
        untouched and no temporary file is left.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from exc
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
