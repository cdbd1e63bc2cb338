"""The detector as a guard in front of a recogniser: a Python object (:class:`Guard`), a batch over many files
(:func:`run_batch`, ``synthcheck detect FILE|DIR ...``) and an HTTP service (``synthcheck serve``)."""

from synthcheck.guard.batch import AUDIO_EXTENSIONS, BatchLog, BatchSummary, find_audio_files, run_batch
from synthcheck.guard.core import DEFAULT_GUARD_ASR, DetectorInfo, FileCheck, Guard, GuardSettings

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_GUARD_ASR",
    "BatchLog",
    "BatchSummary",
    "DetectorInfo",
    "FileCheck",
    "Guard",
    "GuardSettings",
    "find_audio_files",
    "run_batch",
]
