"""Theorem 1.3 of the paper, estimated on real speech: the perturbation any attack must make to pass the check.

If a detector accepts an input ``y`` as label ``i`` only when some ``c ∈ X_i`` (the signals of label ``i``) lies
within ``r`` of it, an attack moving ``x`` to an accepted ``y`` needs ``‖y − x‖ ≥ min_{c ∈ X_i} ‖c − x‖ − r``.
Here ``X_i`` is stood in for by renderings of the target text (each aligned to ``x`` at its best lag and
gain-fitted, :func:`fitted_distance`) and ``r`` by the largest distance of a correctly recognised clean clip
to renderings of its own transcript: an estimate, not a bound, since a finite voice set replaces ``X_i``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synthcheck.audio.metrics import fitted_snr_db
from synthcheck.jsonable import json_safe


def fitted_distance(rendering: np.ndarray, x: np.ndarray) -> float:
    """``‖x − α·c(· − lag)‖`` with the lag and gain ``α`` fitted by least squares (:func:`fitted_snr_db`)."""
    fit = fitted_snr_db(rendering, x)
    x64, c = x.astype(np.float64), rendering.astype(np.float64)
    lo, hi = max(0, -fit.lag), min(c.size, x.size - fit.lag)
    residual = x64.copy()
    residual[lo + fit.lag : hi + fit.lag] -= fit.alpha * c[lo:hi]
    return float(np.linalg.norm(residual))


def nearest_distance(x: np.ndarray, renderings: Sequence[np.ndarray]) -> float:
    """``min_c ‖x − c‖`` over ``renderings`` (each fitted, :func:`fitted_distance`)."""
    return min(fitted_distance(c, x) for c in renderings)


@dataclass(frozen=True)
class Theorem13Row:
    """The estimate for one attacked clip.

    Attributes
    ----------
    stage, source, key, target
        Which attack, on which clip of which source, toward which text.
    radius
        ``r``: the acceptance radius estimated on the source's correctly recognised clean clips.
    distance
        ``min_{c ∈ X_target} ‖c − x‖``.
    margin
        ``distance − radius``: the perturbation (L2) an attack must make at least.
    margin_snr_db
        The margin as an SNR, ``20·log10(‖x‖ / margin)``; None when the margin is ≤ 0 (vacuous).
    norm
        ``‖x‖``.
    """

    stage: str
    source: str
    key: str
    target: str
    radius: float
    distance: float
    margin: float
    margin_snr_db: float | None
    norm: float

    @classmethod
    def estimate(cls, *, stage: str, source: str, key: str, target: str, x: np.ndarray,
                 target_renderings: Sequence[np.ndarray], radius: float) -> Theorem13Row:
        """The row of clip ``x`` attacked toward ``target`` (rendered as ``target_renderings``)."""
        distance = nearest_distance(x, target_renderings)
        margin = distance - radius
        norm = float(np.linalg.norm(x.astype(np.float64)))
        return cls(stage=stage, source=source, key=key, target=target, radius=radius, distance=distance,
                   margin=margin, margin_snr_db=20 * math.log10(norm / margin) if margin > 0 else None, norm=norm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN as None)."""
        return json_safe(asdict(self))


__all__ = ["Theorem13Row", "fitted_distance", "nearest_distance"]
