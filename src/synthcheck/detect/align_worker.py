"""The align judge's searches in a second process, beside the torch models of this one.

PocketSphinx's Python binding holds the GIL while it decodes, so in a thread it would stall the recogniser and
the likelihood judge; in a process of its own it runs on the other core. A detector judging a recording starts
the transcript-free half (the free phone loop, :func:`~synthcheck.detect.forced_alignment.phone_loop`) as soon as
it has the audio, while Whisper transcribes, and the forced alignment when the transcript arrives, while the
likelihood judge scores it; the worker builds the next fresh decoder (about 0.1 s) while it waits. The searches
are the same functions in the same order on a fresh decoder as :meth:`AlignmentComparator.score_checked
<synthcheck.detect.forced_alignment.AlignmentComparator.score_checked>`, so the scores are identical.

One worker serves the whole process (:func:`shared_worker`), a child interpreter started on first use (not a fork:
a forked child of a process running torch's thread pool can deadlock). If it cannot be started, or dies, judging
falls back to this process with a warning; no result is lost.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from synthcheck.audio.io import int16_from_float
from synthcheck.detect.comparators import Comparison, TranscriptJudgement

if TYPE_CHECKING:
    from synthcheck.detect.forced_alignment import AlignmentComparator

log = logging.getLogger(__name__)

#: Phone loops a worker keeps waiting for their transcripts; beyond it the oldest is dropped (and, should its
#: transcript still come, recomputed in the caller's process).
MAX_PENDING = 64


class AlignmentWorker:
    """A child process running the align judge's searches for :class:`BackgroundJudgement` s (see the module)."""

    def __init__(self) -> None:
        # A plain child interpreter, not multiprocessing's spawn: spawn re-runs the parent's unguarded main module.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "synthcheck.detect.align_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._replies = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self._keys = itertools.count()
        self._answers: dict[int, tuple[str, Any]] = {}
        self._lock = threading.Lock()  # one conversation at a time (a service may judge on several threads)
        self.alive = True

    def begin(self, comparator: AlignmentComparator, audio: np.ndarray) -> TranscriptJudgement:
        """Start the phone loop of validated ``audio`` for ``comparator`` (which judges it here should the worker
        fail); the judgement finishes it."""
        judgement = BackgroundJudgement(self, next(self._keys), comparator, audio)
        self._send(("loop", judgement.key, int16_from_float(audio).tobytes()))
        return judgement

    def _send(self, message: tuple[Any, ...] | None) -> bool:
        with self._lock:
            if self.alive:
                try:
                    self._requests.send(message)
                    return True
                except (OSError, EOFError, ValueError) as exc:
                    self._died(exc)
            return False

    def _answer(self, key: int) -> tuple[str, Any] | None:
        """The worker's answer for ``key`` (answers for other keys are kept for their judgements), None if dead."""
        with self._lock:
            while key not in self._answers and self.alive:
                try:
                    answered, kind, value = self._replies.recv()
                except (OSError, EOFError, ValueError) as exc:
                    self._died(exc)
                    break
                self._answers[answered] = (kind, value)
            return self._answers.pop(key, None)

    def _died(self, exc: BaseException) -> None:
        log.warning("the align worker process stopped (%s); judging in this process from now on",
                    str(exc) or type(exc).__name__)
        self.alive = False

    def close(self) -> None:
        """Stop the child process (idempotent)."""
        if self.alive:
            self._send(None)
            self.alive = False
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for connection in (self._requests, self._replies):
            if not connection.closed:
                connection.close()


class BackgroundJudgement(TranscriptJudgement):
    """One recording judged by an :class:`AlignmentWorker`; the same answer as the in-process judgement."""

    def __init__(self, worker: AlignmentWorker, key: int, comparator: AlignmentComparator, audio: np.ndarray) -> None:
        super().__init__(comparator, audio)
        self.worker, self.key = worker, key
        self.background = worker.alive
        self._sent = False

    def submit(self, transcript: str) -> None:
        """Hand over the transcript; the worker starts the forced alignment at once."""
        super().submit(transcript)
        self._sent = self.worker._send(("align", self.key, (transcript, self.comparator.model)))

    def result(self) -> Comparison:
        """The comparison, from the worker, or computed here if it could not answer (nothing submitted: the
        base class's error)."""
        kind, value = (self.worker._answer(self.key) if self._sent else None) or ("unsent", None)
        if kind == "ok":
            return value
        if kind == "error":  # judged here again: the same search raises or answers the same way in this process
            log.warning("the align worker failed on judgement %d (%s); judging it here", self.key, value)
        elif kind == "dropped":
            log.debug("align worker had dropped phone loop %d; judging it here", self.key)
        return super().result()


_WORKER: AlignmentWorker | None = None
_START_FAILED = False


def shared_worker() -> AlignmentWorker | None:
    """This process's align worker (started on first call), or None when none can run (then judge in-process)."""
    global _WORKER, _START_FAILED
    if _WORKER is not None and _WORKER.alive:
        return _WORKER
    if _START_FAILED or _WORKER is not None:  # could not start, or died: do not respawn in a loop
        return None
    try:
        _WORKER = AlignmentWorker()
    except OSError as exc:
        log.warning("cannot start the align worker process (%s); judging in this process", exc)
        _START_FAILED = True
        return None
    atexit.register(_WORKER.close)
    return _WORKER


def _serve(requests: Connection, replies: Connection) -> None:
    """The worker's loop: ``("loop", key, pcm)`` runs a phone loop and keeps it; ``("align", key, (transcript,
    model))`` finishes it and answers ``(key, "ok", Comparison)`` (``"error"`` or ``"dropped"`` otherwise: the
    caller then judges it itself); ``None`` stops."""
    from synthcheck.asr.pocketsphinx import decoder_class
    from synthcheck.detect.forced_alignment import align_transcript, new_decoder, phone_loop

    decoder_type = decoder_class()
    loops: OrderedDict[int, Any] = OrderedDict()
    spare = new_decoder(decoder_type)
    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, key, payload = message
        if kind == "loop":  # no answer: a failure is kept and answered when the transcript comes
            try:
                loops[key] = phone_loop(spare if spare is not None else new_decoder(decoder_type), payload)
            except Exception as exc:  # noqa: BLE001 - answered to the caller, who judges it itself
                loops[key] = exc
            spare = None
            while len(loops) > MAX_PENDING:
                loops.popitem(last=False)
        else:
            loop = loops.pop(key, None)
            try:
                if loop is None:
                    replies.send((key, "dropped", None))
                elif isinstance(loop, Exception):
                    replies.send((key, "error", f"{type(loop).__name__}: {loop}"))
                else:
                    replies.send((key, "ok", align_transcript(loop, *payload)))
            except Exception as exc:  # noqa: BLE001 - answered to the caller, who judges it itself
                replies.send((key, "error", f"{type(exc).__name__}: {exc}"))
        if spare is None and not requests.poll():
            spare = new_decoder(decoder_type)


def main() -> None:
    """The child's entry: requests on stdin, replies on a private copy of stdout (fd 1 then points at stderr, so
    nothing printed by a library can corrupt the replies)."""
    replies = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    _serve(Connection(os.dup(0), writable=False), replies)


if __name__ == "__main__":
    main()
