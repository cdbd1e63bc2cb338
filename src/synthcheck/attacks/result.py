"""What an attack reports: :class:`AttackResult` per utterance, :class:`AttackProgress` per optimiser step."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, save_wav
from synthcheck.cache import atomic_write_bytes
from synthcheck.errors import BadInputError
from synthcheck.jsonable import json_safe

#: What a None distortion in :meth:`AttackResult.to_dict` stood for.
_NONE_MEANS = {"db_x": -math.inf, "snr_db": math.inf, "fitted_snr_db": math.inf}


@dataclass
class AttackProgress:
    """One step's state, passed to the ``progress`` callback of :meth:`~synthcheck.attacks.base.Attack.run`."""

    step: int
    max_steps: int
    loss: float
    #: Median over items of the current dB_x: of the best success so far, else of the current δ.
    db_x: float
    successes: int
    n_items: int
    elapsed_s: float


@dataclass(frozen=True)
class NoiseLevels:
    """What a random-noise search (:class:`~synthcheck.attacks.noise.RandomNoiseSearch`) found for one input.

    Noise is Gaussian with standard deviation ``σ = std(x) / t``; its L2 norm is reported as ``σ·sqrt(N)`` for a
    level and as the drawn vector's norm for the grid's first flip.

    Attributes
    ----------
    grid_t, grid_snr_db, grid_l2
        The original code's rule: the first ``t`` of the descending grid (610, 590, …, 10, 0.5) at which one draw
        changed the transcript, its SNR ``20·log10 t`` and the drawn noise's L2 norm; None when no level of the
        grid changed it (the input is robust "above the grid").
    level_l2, level_snr_db
        The refined estimate: the noise level at which at least half of ``draws`` seeded draws changed the
        transcript (σ grows from the grid's first flip until half the draws flip, then bisection on ``log σ``);
        None above the grid, or when half the draws never flipped up to the grid's loudest level.
    low_l2, flip_fraction
        The bracket's lower end (a level at which fewer than half the draws flipped, or the grid's last quiet
        level; 0 when the first grid level already flipped) and the share of draws that flipped at ``level_l2``.
    draws
        Seeded draws per refined level.
    """

    grid_t: float | None
    grid_snr_db: float | None
    grid_l2: float | None
    level_l2: float | None
    level_snr_db: float | None
    low_l2: float | None
    flip_fraction: float | None
    draws: int

    @property
    def above_grid(self) -> bool:
        """No noise level of the grid changed the transcript."""
        return self.grid_t is None


@dataclass
class AttackResult:
    """The outcome for one utterance.

    ``adversarial`` holds exact 16-bit values; every distortion number is computed from
    ``adversarial - original``. ``success`` is confirmed by a greedy decode of ``adversarial``.
    ``kind`` is the attack kind that was asked for (e.g. ``"targeted"``, ``"small-edit"``).
    ``seconds`` is the wall time of the whole batch the item was attacked in. ``linf_bound`` is the attack's
    final radius τ in the domain's steps (16-bit steps for audio): the L∞ box's, or the L2 ball's for an attack
    configured with ``norm="l2"`` (not the Theorem 1.3 estimate of :mod:`synthcheck.experiments`).
    """

    adversarial: np.ndarray
    original: np.ndarray
    target: str
    kind: str
    recognizer: str
    success: bool
    transcript: str
    db_x: float
    snr_db: float
    fitted_snr_db: float
    linf_bound: float
    steps: int
    first_success_step: int | None
    seconds: float
    loss_curve: list[float]
    config: dict[str, Any] = field(default_factory=dict)
    #: A random-noise search's levels (None for the white-box attacks).
    noise: NoiseLevels | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (audio arrays omitted; infinities as None)."""
        out = json_safe({k: v for k, v in asdict(self).items() if k not in ("adversarial", "original")})
        out["n_samples"] = int(self.adversarial.size)
        out["sample_rate"] = SAMPLE_RATE
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], adversarial: np.ndarray, original: np.ndarray) -> AttackResult:
        """The result :meth:`to_dict` summarised, with its two audio arrays.

        Infinities stored as None come back: ``db_x`` as -inf (a zero perturbation), the SNRs as +inf, and a
        non-finite loss in ``loss_curve`` as NaN.

        Raises
        ------
        BadInputError
            ``data`` lacks fields of an AttackResult or has others (a summary of another version).
        """
        values = {k: v for k, v in data.items() if k not in ("n_samples", "sample_rate")}
        expected = {f.name for f in fields(cls)} - {"adversarial", "original"}
        if set(values) != expected:
            wrong = sorted(set(values) ^ expected)
            raise BadInputError(f"not an attack result summary (fields {wrong} differ); rerun the attack")
        for name, infinity in _NONE_MEANS.items():
            if values[name] is None:
                values[name] = infinity
        values["loss_curve"] = [math.nan if v is None else v for v in values["loss_curve"]]
        values["noise"] = None if values["noise"] is None else NoiseLevels(**values["noise"])
        return cls(adversarial=adversarial, original=original, **values)

    def save(self, path_wav: str | Path) -> Path:
        """Write the adversarial as 16-bit WAV and :meth:`to_dict` beside it (``.json``); return the WAV path."""
        path = save_wav(path_wav, self.adversarial)
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(self.to_dict(), indent=2).encode("utf-8"))
        return path
