"""The audio domain of the attack loop: what inputs are allowed, how they are stored, how distortion is measured.

The loop (:class:`~synthcheck.attacks.base.Attack`) knows nothing about audio; it asks its domain. Speech is
16 kHz mono in [-1, 1], 0.1–30 s (Whisper's window), and is stored as 16-bit PCM: bounds, learning rates and
noise are in 16-bit steps (units of 1/32768), every candidate is rounded to the 16-bit grid, and the distortion
of the exact 16-bit adversarial is reported as Carlini & Wagner do, ``dB_x(δ) = 20·log10 max|δ| − 20·log10 max|x|``,
beside the energy SNR ``10·log10(‖x‖²/‖δ‖²)`` and the attenuation-fitted SNR (see :mod:`synthcheck.audio.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch

from synthcheck.audio.io import SAMPLE_RATE, quantize_16bit, validate_audio
from synthcheck.audio.metrics import db_x, fitted_snr_db, snr_db
from synthcheck.errors import BadInputError

#: Shortest utterance an attack accepts (seconds).
MIN_SECONDS = 0.1
#: Longest utterance an attack accepts (seconds): Whisper's full window.
MAX_SECONDS = 30.0


class AudioDomain:
    """Hooks of the attack loop for 16 kHz speech stored as 16-bit PCM."""

    #: 16-bit full scale: bounds, learning rates and noise are given in units of 1/scale.
    scale: float = 32768.0

    def check_input(self, data: np.ndarray, index: int) -> np.ndarray:
        """Utterance ``index`` as float32 if it is attackable: 1-D, finite, not silent, 0.1–30 s, within [-1, 1]."""
        audio = validate_audio(data, name=f"utterance {index}")
        seconds = audio.size / SAMPLE_RATE
        if seconds < MIN_SECONDS:
            raise BadInputError(f"utterance {index}: {seconds:.3f} s is too short to attack; give at least {MIN_SECONDS} s")
        if seconds > MAX_SECONDS:
            raise BadInputError(f"utterance {index}: {seconds:.1f} s is longer than {MAX_SECONDS:.0f} s; cut it first")
        if float(np.max(np.abs(audio))) > 1.0:
            raise BadInputError(f"utterance {index}: samples exceed [-1, 1]; normalise the audio first")
        return audio

    def project(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` clamped into the valid sample range [-1, 1] (differentiable inside it)."""
        return torch.clamp(inputs, -1.0, 1.0)

    def quantize(self, item: np.ndarray) -> np.ndarray:
        """One item rounded to what is stored: the 16-bit grid (float32)."""
        return quantize_16bit(item)

    def distortion(self, original: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
        """``db_x``, ``snr_db`` and ``fitted_snr_db`` of ``adversarial`` against ``original`` (AttackResult fields)."""
        delta = adversarial.astype(np.float64) - original
        return {
            "db_x": float(db_x(delta, original)),
            "snr_db": float(snr_db(original, delta)),
            "fitted_snr_db": float(fitted_snr_db(original, adversarial).snr_db),
        }
