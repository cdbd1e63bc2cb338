"""What an attack reports: :class:`AttackResult` per utterance, :class:`AttackProgress` per optimiser step."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, save_wav
from synthcheck.cache import atomic_write_bytes
from synthcheck.jsonable import json_safe


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


@dataclass
class AttackResult:
    """The outcome for one utterance.

    ``adversarial`` holds exact 16-bit values; every distortion number is computed from
    ``adversarial - original``. ``success`` is confirmed by a greedy decode of ``adversarial``.
    ``kind`` is the attack kind that was asked for (e.g. ``"targeted"``, ``"small-edit"``).
    ``seconds`` is the wall time of the whole batch the item was attacked in.
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
    bound: float
    steps: int
    first_success_step: int | None
    seconds: float
    loss_curve: list[float]
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (audio arrays omitted; infinities as None)."""
        out = json_safe({k: v for k, v in asdict(self).items() if k not in ("adversarial", "original")})
        out["n_samples"] = int(self.adversarial.size)
        out["sample_rate"] = SAMPLE_RATE
        return out

    def save(self, path_wav: str | Path) -> Path:
        """Write the adversarial as 16-bit WAV and :meth:`to_dict` beside it (``.json``); return the WAV path."""
        path = save_wav(path_wav, self.adversarial)
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(self.to_dict(), indent=2).encode("utf-8"))
        return path
