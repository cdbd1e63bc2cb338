"""One writer per run directory: an exclusive lock file held while a run writes.

:meth:`RunLock.acquire` opens ``<run dir>/run.lock`` and takes an exclusive, non-blocking ``flock`` on it, then
records the holder's pid, host and start time in it. The kernel drops a ``flock`` when its holder closes the
file or dies, even by SIGKILL, so the lock of a killed run is simply taken over by the next one; only a live
holder makes a second writer refuse, at once and naming the holder. The file itself stays (unlinking it would
let two writers lock two different files). Readers (``synthcheck report``) do not take the lock: SQLite's WAL
lets them read while the writer writes.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from synthcheck.errors import BadInputError, SynthcheckError, storage_error

LOCK_NAME = "run.lock"


class RunDirectoryBusyError(SynthcheckError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """The held lock of one run directory (use :meth:`acquire`; release with :meth:`release` or ``with``)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunLock:
        """Lock ``run_dir`` (created if missing) for this process.

        Raises
        ------
        RunDirectoryBusyError
            A live process holds the lock (the message names its pid, host and start time).
        BadInputError
            ``run_dir`` exists and is not a directory.
        StorageError
            The directory or lock file cannot be created (read-only place, no space).
        """
        run_dir = Path(run_dir)
        path = run_dir / LOCK_NAME
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except (FileExistsError, NotADirectoryError):
            raise BadInputError(f"{run_dir}: exists and is not a directory; choose another --run-dir") from None
        except OSError as exc:
            raise storage_error(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunDirectoryBusyError(
                f"run directory {run_dir} is in use by {holder}; wait for it or use another --run-dir"
            ) from None
        lock = cls(path, fd)
        holder_info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder_info).encode("utf-8"), 0)
        except OSError as exc:
            lock.release()
            raise storage_error(path, exc) from exc
        return lock

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """``pid N on host H (started …)`` from a held lock file, or a vaguer phrase if it is not written yet."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {int(info['pid'])} on {info['host']} (started {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


__all__ = ["LOCK_NAME", "RunDirectoryBusyError", "RunLock"]
