"""Many files in one call: walk the paths, check each file once, append one JSON line per file, resume.

The JSON-lines log is the batch's store: a line is written (and flushed to disk) as soon as its file is
checked, so a killed batch keeps every finished file, and a rerun with the same log skips them. A line torn by
a kill is dropped and its file checked again.

Files are checked :data:`~synthcheck.guard.core.FILES_PER_CALL` at a time by :func:`check_task` (one recogniser
call for all of them: the ten paper clauses cost 0.65 of their one-by-one transcription) through an
:class:`~synthcheck.experiments.executors.Executor`: in this process (one :class:`~synthcheck.guard.core.Guard`,
loaded once) or on Ray (one guard per worker process). A killed batch redoes at most the task in progress.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from time import perf_counter
from typing import IO, Any

from synthcheck.errors import BadInputError, storage_error
from synthcheck.guard.core import FILES_PER_CALL, FileCheck, Guard, GuardSettings

log = logging.getLogger(__name__)

#: File name endings a directory walk picks up (files named explicitly are checked whatever their name).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def find_audio_files(paths: Iterable[str | Path]) -> list[str]:
    """The files to check: each file as given, each directory's audio files (recursively, sorted), no repeats.

    Raises
    ------
    BadInputError
        A path does not exist (a typo should stop the batch before it starts, unlike a bad file).
    """
    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            walked = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            found.extend(str(p) for p in walked)
        elif path.exists() or path.is_symlink():
            found.append(str(path))
        else:
            raise BadInputError(f"{path}: no such file or directory")
    return list(dict.fromkeys(found))


@lru_cache(maxsize=2)
def shared_guard(settings: GuardSettings) -> Guard:
    """The guard for ``settings`` in this process, loaded on first use (one per Ray worker, one per CLI run)."""
    return Guard(settings)


@dataclass(frozen=True)
class CheckTask:
    """Files for :func:`check_task`: what guard to use (its first detector judges) and which files."""

    settings: GuardSettings
    files: tuple[str, ...]


def check_task(task: CheckTask) -> list[FileCheck]:
    """Check the task's files together with this process's shared guard (module level, so Ray can ship it)."""
    return shared_guard(task.settings).check_file_batch(task.files)


class BatchLog:
    """The append-only JSON-lines log of a batch: one line per finished file.

    Parameters
    ----------
    path
        The ``--jsonl`` file; created with its directory if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInputError(f"{self.path}: is a directory; give a file name for the JSON lines")
        self._handle: IO[str] | None = None

    def finished(self) -> set[str]:
        """Files with a complete line in the log; a torn last line (a killed run) is cut off here."""
        if not self.path.exists():
            return set()
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            log.warning("%s: dropping a line torn by an interrupted run; its file is checked again", self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        done = set()
        for number, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                done.add(str(json.loads(line)["file"]))
            except (ValueError, KeyError, TypeError):
                raise BadInputError(f"{self.path}: line {number} is not a synthcheck result line; "
                                    "give another --jsonl file or remove it") from None
        return done

    def append(self, result: FileCheck) -> None:
        """Write ``result``'s line and push it to disk before returning."""
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a", encoding="utf-8")
            self._handle.write(json.dumps(result.to_dict()) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise storage_error(self.path, exc) from None

    def close(self) -> None:
        """Close the file (appending again reopens it)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    checked, flagged, failed
        Files checked this run, of them found inconsistent, and files that could not be checked.
    skipped
        Files already in the log (a resumed batch).
    audio_seconds, check_seconds, wall_seconds
        Audio checked this run, the time spent checking it (sum over files) and the batch's wall time.
    """

    checked: int
    flagged: int
    failed: int
    skipped: int
    audio_seconds: float
    check_seconds: float
    wall_seconds: float

    @property
    def seconds_per_audio_second(self) -> float:
        """Checking time per second of audio (NaN when nothing was checked)."""
        return self.check_seconds / self.audio_seconds if self.audio_seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary, with :attr:`seconds_per_audio_second`."""
        return {**self.__dict__, "seconds_per_audio_second": self.seconds_per_audio_second}


def run_batch(
    settings: GuardSettings,
    files: Sequence[str],
    *,
    log_file: BatchLog | None = None,
    executor: Any = None,
    on_result: Callable[[FileCheck], None] | None = None,
) -> BatchSummary:
    """Check ``files`` (skipping those already in ``log_file``), appending each result to the log as it lands.

    Parameters
    ----------
    settings
        The guard to use (built once per process by :func:`shared_guard`; its first detector judges).
    files
        Paths from :func:`find_audio_files`.
    log_file
        Where results go; ``None`` keeps them only in ``on_result``.
    executor
        An :class:`~synthcheck.experiments.executors.Executor` (default: this process).
    on_result
        Called with every :class:`FileCheck` as it finishes (the CLI's progress bar and output).
    """
    from synthcheck.experiments.executors import LocalExecutor

    start = perf_counter()
    done = log_file.finished() if log_file is not None else set()
    todo = [f for f in files if f not in done]
    tasks = [CheckTask(settings, tuple(todo[i : i + FILES_PER_CALL])) for i in range(0, len(todo), FILES_PER_CALL)]
    checked = flagged = failed = 0
    audio_seconds = check_seconds = 0.0
    runner = executor if executor is not None else LocalExecutor()
    try:
        for result in (result for _, results in runner.map_unordered(check_task, tasks) for result in results):
            if log_file is not None:
                log_file.append(result)
            if result.ok:
                checked += 1
                flagged += int(result.flagged)
                audio_seconds += result.seconds or 0.0
                check_seconds += result.elapsed
            else:
                failed += 1
            if on_result is not None:
                on_result(result)
    finally:
        if log_file is not None:
            log_file.close()
    return BatchSummary(checked, flagged, failed, len(files) - len(todo),
                        audio_seconds, check_seconds, perf_counter() - start)
