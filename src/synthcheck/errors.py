"""Errors the user can act on.

Every error raised for bad input or a missing component is a :class:`SynthcheckError` whose message is
one line saying what is wrong and what to do. The CLI prints that line and exits with status 2.
"""

from __future__ import annotations

import errno


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped (file names and transcripts may hold them)."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text.strip())


class SynthcheckError(Exception):
    """Base class: a one-line, actionable message."""


class BadInputError(SynthcheckError, ValueError):
    """The input (audio, text, option) cannot be used as given."""


class InputTooLongError(BadInputError):
    """The input is longer than the configured limit (the service answers 413, not 422)."""


class MissingComponentError(SynthcheckError, RuntimeError):
    """An engine, model package or optional dependency is not installed."""


class StorageError(SynthcheckError, OSError):
    """A result, checkpoint or lock file could not be written (no space, read-only place); finished work is kept."""


#: errno values / SQLite error names that mean "no space left".
_NO_SPACE = {"ENOSPC", "EDQUOT", "SQLITE_FULL"}
#: errno values / SQLite error names that mean "not writable here".
_NOT_WRITABLE = {"EACCES", "EPERM", "EROFS", "SQLITE_READONLY", "SQLITE_CANTOPEN"}


def storage_error(path: object, exc: BaseException) -> StorageError:
    """The one-line :class:`StorageError` for a failed write of ``path``.

    ``exc`` is the ``OSError`` (its errno) or ``sqlite3.Error`` (its ``sqlite_errorname``) that the write raised;
    the message says what failed and what to do: ``could not write P: No space left on device; free space and
    rerun to resume``.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        name, reason = errno.errorcode.get(exc.errno, ""), exc.strerror or str(exc)
    else:
        name, reason = str(getattr(exc, "sqlite_errorname", "")), str(exc)
    if name in _NO_SPACE:
        hint = "free space and rerun to resume"
    elif name.startswith(tuple(_NOT_WRITABLE)):
        hint = "make it writable (or use another --run-dir) and rerun to resume"
    else:
        hint = "fix the cause and rerun to resume"
    return StorageError(f"could not write {path}: {reason}; {hint}")
