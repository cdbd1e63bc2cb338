"""The domains one results store and one driver serve: how each stores its results and files.

A run directory's meta records its ``domain`` (``speech`` when absent: runs stored before images existed).
:func:`store_codec` gives the store what differs per domain — the config class, the typed stage results, the
attack stage names and the file format of the arrays a result references; :func:`experiment_plan` gives the
driver (:func:`~synthcheck.experiments.pipeline.run_experiment`) the domain's workers. Everything else — items,
stages, attempts, atomic commits, the lock, resuming, executors — is shared.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.errors import BadInputError

#: The domains, in listing order (speech first: a run without a recorded domain is a speech run).
DOMAINS = ("speech", "images")


@dataclass(frozen=True)
class StoreCodec:
    """What the results store needs to know about a domain.

    Attributes
    ----------
    domain
        ``speech`` or ``images``.
    config_type, clean_type, attack_type
        The config class (``from_stored``) and the stage result classes (``from_dict(data, detectors)``).
    is_attack_stage, attack_stage_hint
        Whether a name is one of the domain's attack stages (speech: an attack kind; images: a kind with its
        ``@ε``), and the list of them an error message names.
    suffix, encode, decode
        File suffix of stored arrays, array → file bytes, and path → array (speech: 16-bit WAV; images: ``.npy``).
    """

    domain: str
    config_type: type
    clean_type: type
    attack_type: type
    is_attack_stage: Callable[[str], bool]
    attack_stage_hint: str
    suffix: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[Path], np.ndarray]


def store_codec(domain: str) -> StoreCodec:
    """The codec of ``domain`` (imports the domain's result types; nothing heavy)."""
    if domain == "speech":
        from synthcheck.attacks.kinds import ATTACK_KINDS
        from synthcheck.experiments.config import ExperimentConfig
        from synthcheck.experiments.results import AttackOutcome, CleanResult
        from synthcheck.experiments.store import read_wav, wav_bytes

        return StoreCodec("speech", ExperimentConfig, CleanResult, AttackOutcome, ATTACK_KINDS.__contains__,
                          ", ".join(ATTACK_KINDS), ".wav", wav_bytes, read_wav)
    if domain == "images":
        from synthcheck.images.experiment import ImageExperimentConfig, is_image_stage
        from synthcheck.images.results import ImageAttackOutcome, ImageCleanResult

        return StoreCodec("images", ImageExperimentConfig, ImageCleanResult, ImageAttackOutcome, is_image_stage,
                          "an image attack with its budget, e.g. pgd-linf@0.3", ".npy", npy_bytes, read_npy)
    raise BadInputError(f"unknown experiment domain {domain!r}; choose one of: {', '.join(DOMAINS)}")


def experiment_plan(config: Any) -> Any:
    """The driver's plan of ``config`` (a :class:`~synthcheck.experiments.pipeline.SpeechPlan` or the images')."""
    if getattr(config, "domain", "speech") == "images":
        from synthcheck.images.experiment import ImagePlan

        return ImagePlan(config)
    from synthcheck.experiments.pipeline import SpeechPlan

    return SpeechPlan(config)


def npy_bytes(array: np.ndarray) -> bytes:
    """``.npy`` file contents of ``array`` (exact, no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_npy(path: Path) -> np.ndarray:
    """The array of a stored ``.npy`` file."""
    return np.load(path, allow_pickle=False)


def read_run(run_dir: str | Path) -> Any:
    """The stored run of ``run_dir`` with its metrics, whatever its domain (an
    :class:`~synthcheck.experiments.pipeline.ExperimentRun` or an :class:`~synthcheck.images.experiment.ImageRun`)."""
    from synthcheck.experiments.store import ResultsStore

    with ResultsStore.read(run_dir) as store:
        return experiment_plan(store.config()).run(store, {})
