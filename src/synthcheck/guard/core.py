"""The guard: a recogniser and its detectors, loaded once, checking arrays, files and batches.

``synthcheck detect`` (one file or many), ``synthcheck serve`` and Python callers use this one object::

    from synthcheck import Guard

    guard = Guard(asr="whisper-base")                  # loads Whisper base and the default detector once
    verdict = guard.check(audio)                       # 16 kHz float32 mono array -> Verdict
    result = guard.check_file("clip.wav")              # FileCheck: the verdict, or the file's one-line error
    for result in guard.check_files(["a.wav", "b.flac"]):
        print(result.file, result.verdict.consistent if result.ok else result.error)

A bad file never raises from :meth:`Guard.check_file`: its one-line error is the result, so a batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, load_audio
from synthcheck.detect.configs import DEFAULT_DETECTOR, DETECTOR_CONFIGS, DetectorConfig, resolve_config_name
from synthcheck.detect.detector import Detector, Verdict
from synthcheck.errors import BadInputError, InputTooLongError

log = logging.getLogger(__name__)

#: Recogniser a guard protects when none is named: the default detector was calibrated on its transcripts.
DEFAULT_GUARD_ASR = "whisper-base"
#: Files judged together by :meth:`Guard.check_files` and a batch's tasks (one recogniser call; a killed batch loses
#: at most this many checks in progress).
FILES_PER_CALL = 8


@dataclass(frozen=True)
class GuardSettings:
    """What a :class:`Guard` loads: enough to build the same guard again in another process (a Ray worker).

    Attributes
    ----------
    asr
        Recogniser name (:data:`synthcheck.asr.registry.RECOGNIZERS`).
    detectors
        Detector configuration names (:data:`synthcheck.detect.DETECTOR_NAMES`) or configurations (e.g.
        :func:`synthcheck.detect.custom_config`); the first is the default.
    threshold
        Overrides the first detector's calibrated threshold (``None``: calibrated).
    max_seconds
        Longest input accepted (``None``: :func:`synthcheck.audio.io.default_max_seconds`).
    """

    asr: str = DEFAULT_GUARD_ASR
    detectors: tuple[str | DetectorConfig, ...] = (DEFAULT_DETECTOR,)
    threshold: float | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.detectors:
            raise BadInputError("a guard needs at least one detector")


@dataclass(frozen=True)
class DetectorInfo:
    """A loaded detector as clients see it: name, what it does, its threshold and its members' thresholds."""

    name: str
    description: str
    threshold: float
    members: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"name": self.name, "description": self.description, "threshold": self.threshold,
                "members": dict(self.members)}


@dataclass(frozen=True)
class FileCheck:
    """One file's outcome: its verdict, or the one-line error that kept it from being checked.

    Attributes
    ----------
    file
        The path as given.
    verdict
        ``None`` when the file could not be checked.
    error
        One line saying what is wrong with the file (empty when checked).
    seconds
        Audio duration (``None`` when unreadable).
    elapsed
        Wall-clock seconds spent on the file (loading included).
    too_long
        The error is the duration limit (the service answers 413 for it).
    """

    file: str
    verdict: Verdict | None
    error: str = ""
    seconds: float | None = None
    elapsed: float = 0.0
    too_long: bool = False

    @property
    def ok(self) -> bool:
        """Whether the file was checked."""
        return self.verdict is not None

    @property
    def flagged(self) -> bool:
        """Whether the file was checked and found inconsistent (possibly adversarial)."""
        return self.verdict is not None and not self.verdict.consistent

    def to_dict(self) -> dict[str, Any]:
        """One JSON line of a batch: ``file``, ``seconds``, ``elapsed`` and ``verdict`` or ``error``."""
        line: dict[str, Any] = {"file": self.file, "seconds": self.seconds, "elapsed": round(self.elapsed, 4)}
        if self.verdict is not None:
            line["verdict"] = self.verdict.to_dict()
        else:
            line["error"] = self.error
        return line


class Guard:
    """A recogniser and its consistency detectors, loaded once.

    Parameters
    ----------
    settings
        What to load (default: Whisper base and the default detector).
    """

    def __init__(self, settings: GuardSettings | None = None) -> None:
        from synthcheck.asr.registry import get_recognizer

        self.settings = settings or GuardSettings()
        configs = [
            given if isinstance(given, DetectorConfig) else DETECTOR_CONFIGS[resolve_config_name(given, self.settings.asr)]
            for given in self.settings.detectors
        ]
        if len({c.name for c in configs}) != len(configs):
            raise BadInputError(f"detectors named twice: {', '.join(c.name for c in configs)}")
        self.recognizer = get_recognizer(self.settings.asr)
        self._configs = {config.name: config for config in configs}
        self._detectors: dict[str, Detector] = {
            config.name: config.build(self.recognizer, self.settings.threshold if i == 0 else None)
            for i, config in enumerate(configs)
        }
        log.info("guard ready: %s protected by %s", self.recognizer.name, ", ".join(self._detectors))

    @property
    def default_detector(self) -> str:
        """The (resolved) name of the detector used when a check names none."""
        return next(iter(self._detectors))

    @property
    def detector_names(self) -> tuple[str, ...]:
        """The resolved names of the loaded detectors, the default first."""
        return tuple(self._detectors)

    def detector(self, name: str | None = None) -> Detector:
        """The loaded detector ``name`` (its alias ``likelihood`` resolved; ``None``: the default).

        Raises
        ------
        BadInputError
            ``name`` is not loaded (the message lists the loaded ones).
        """
        if name is None:
            return self._detectors[self.default_detector]
        resolved = name if name in self._detectors else resolve_config_name(name, self.recognizer.name)
        if resolved not in self._detectors:
            raise BadInputError(f"detector {name!r} is not loaded here; choose one of: {', '.join(self._detectors)}")
        return self._detectors[resolved]

    def describe(self) -> list[DetectorInfo]:
        """The loaded detectors, the default first."""
        infos = []
        for name, detector in self._detectors.items():
            members = {m.name: m.threshold for m in getattr(detector, "members", [])}
            infos.append(DetectorInfo(name, self._configs[name].description, detector.threshold, members))
        return infos

    def check(self, audio: np.ndarray, detector: str | None = None) -> Verdict:
        """Judge ``audio`` (16 kHz mono float32) with the named loaded detector (default: the first).

        Raises
        ------
        BadInputError
            Unusable audio (empty, NaN, silent, not 1-D) or a detector not loaded.
        """
        return self.detector(detector).check(audio)

    def check_file(
        self, path: str | Path, detector: str | None = None, *, max_seconds: float | None = None,
        allow_truncated: bool = False,
    ) -> FileCheck:
        """Load and judge one file; a bad file gives a :class:`FileCheck` with its one-line error, never raises.

        ``max_seconds`` overrides the settings' duration limit (the service's own limit).
        """
        return self.check_file_batch([path], detector, max_seconds=max_seconds, allow_truncated=allow_truncated)[0]

    def check_file_batch(
        self, paths: Sequence[str | Path], detector: str | None = None, *, max_seconds: float | None = None,
        allow_truncated: bool = False,
    ) -> list[FileCheck]:
        """:meth:`check_file` of each file, the good ones judged together (:meth:`Detector.check_batch
        <synthcheck.detect.detector.Detector.check_batch>`: one recogniser call); each file's ``elapsed`` is its
        loading time plus its share, by duration, of the judging."""
        judge = self.detector(detector)  # an unknown detector is the caller's error, not the file's
        limit = self.settings.max_seconds if max_seconds is None else max_seconds
        results: list[FileCheck | None] = [None] * len(paths)
        loaded: dict[int, tuple[np.ndarray, float]] = {}  # index -> (audio, seconds to load it)
        for i, path in enumerate(paths):
            start = perf_counter()
            try:
                audio = load_audio(path, max_seconds=limit, allow_truncated=allow_truncated)
            except InputTooLongError as exc:
                results[i] = FileCheck(str(path), None, str(exc), None, perf_counter() - start, too_long=True)
            except BadInputError as exc:
                results[i] = FileCheck(str(path), None, str(exc), None, perf_counter() - start)
            else:
                loaded[i] = audio, perf_counter() - start
        if len(loaded) > 1:
            try:
                self._judge_together(judge, paths, loaded, results)
            except BadInputError:  # one recording the judges refuse must not cost the others: one by one
                log.debug("a batch of %d files was refused; judging them one by one", len(loaded))
        for i, item in loaded.items():
            if results[i] is None:
                try:
                    self._judge_together(judge, paths, {i: item}, results)
                except BadInputError as exc:
                    results[i] = FileCheck(str(paths[i]), None, str(exc), None, item[1])
        return [result for result in results if result is not None]

    @staticmethod
    def _judge_together(judge: Detector, paths: Sequence[str | Path], loaded: dict[int, tuple[np.ndarray, float]],
                        results: list[FileCheck | None]) -> None:
        start = perf_counter()
        verdicts = judge.check_batch([audio for audio, _ in loaded.values()])
        per_sample = (perf_counter() - start) / sum(audio.size for audio, _ in loaded.values())
        for (i, (audio, load_seconds)), verdict in zip(loaded.items(), verdicts, strict=True):
            results[i] = FileCheck(str(paths[i]), verdict, "", audio.size / SAMPLE_RATE,
                                   load_seconds + per_sample * audio.size)

    def check_files(
        self,
        paths: Iterable[str | Path],
        detector: str | None = None,
        *,
        progress: Callable[[FileCheck], None] | None = None,
    ) -> Iterator[FileCheck]:
        """Judge the files in order, :data:`FILES_PER_CALL` at a time (:meth:`check_file_batch`), yielding each
        :class:`FileCheck` (``progress`` is called with each too)."""
        paths = list(paths)
        for start in range(0, len(paths), FILES_PER_CALL):
            for result in self.check_file_batch(paths[start : start + FILES_PER_CALL], detector):
                if progress is not None:
                    progress(result)
                yield result
