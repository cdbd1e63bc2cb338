"""Typed stage results of an image run (what the results store keeps for each image and stage).

* :class:`ImageCleanResult` — stage ``clean``: the classifier's decision on the clean image, every detector's
  verdict on it, and the distances ‖x − c_k(x)‖ of the clean image to every class's generated manifold (for
  the Theorem 1.3 bound of any target class).
* :class:`ImageAttackOutcome` — one attack on one image: success, the adversarial's decision, its L2/L∞ size
  (of the stored 8-bit adversarial, on [0, 1] pixels) and every detector's verdict on it.

As the speech results (:mod:`synthcheck.experiments.results`), both are :class:`StageResult` s: ``transcript``
holds the classifier's answer (the decided class name), ``detectors`` the verdicts (primary first), ``audio``
the run-relative paths of the arrays written (``.npy`` for images).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synthcheck.experiments.results import StageResult, _number


@dataclass(frozen=True)
class ImageCleanResult(StageResult):
    """Stage ``clean`` of one test image: true ``label``, ``predicted`` class, per-class manifold distances."""

    label: int = -1
    predicted: int = -1
    class_distances: tuple[float, ...] = ()
    compute_seconds: float = math.nan

    @property
    def correct(self) -> bool:
        """The classifier decided the true class."""
        return self.predicted == self.label

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], detectors: Sequence[str]) -> ImageCleanResult:
        """The inverse of :meth:`to_dict`."""
        return cls(**cls._common(data, detectors), label=int(data["label"]), predicted=int(data["predicted"]),
                   class_distances=tuple(_number(d) for d in data.get("class_distances", ())),
                   compute_seconds=_number(data.get("compute_seconds")))


@dataclass(frozen=True)
class ImageAttackOutcome(StageResult):
    """One attack on one image: confirmed ``success``, the ``target`` class (-1: untargeted), the adversarial's
    ``predicted`` class, its ``l2``/``linf`` size, the attack's ``budget`` (ε in its norm; NaN: minimal-norm),
    steps and seconds (the batch's wall time shared per image)."""

    success: bool = False
    target: int = -1
    predicted: int = -1
    norm: str = ""
    budget: float = math.nan
    l2: float = math.nan
    linf: float = math.nan
    steps: int = 0
    seconds: float = math.nan

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], detectors: Sequence[str]) -> ImageAttackOutcome:
        """The inverse of :meth:`to_dict` (a zero perturbation's sizes are 0)."""
        return cls(**cls._common(data, detectors), success=bool(data["success"]), target=int(data["target"]),
                   predicted=int(data["predicted"]), norm=str(data.get("norm", "")), budget=_number(data.get("budget")),
                   l2=_number(data.get("l2")), linf=_number(data.get("linf")), steps=int(data.get("steps", 0)),
                   seconds=_number(data.get("seconds")))
