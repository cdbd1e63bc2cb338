r"""Channel models: what happens to a signal between the synthesiser and the classifier.

A :class:`Channel` maps :math:`x \mapsto y` with randomness from an explicit ``numpy.random.Generator``.
Every channel is a dataclass that serialises to JSON (:meth:`Channel.to_dict`, :meth:`Channel.from_dict`),
so an experiment can store the exact channel with its results. Outputs are float32, clipped to [-1, 1].

- :class:`AwgnChannel` — :math:`y = \alpha x + w`, :math:`w \sim \mathcal N(0, \sigma^2 I)` with
  :math:`\sigma^2 = \lVert\alpha x\rVert^2 / (N\,10^{\mathrm{SNR}/10})`, so
  :math:`\mathbb E\,10\log_{10}(\lVert\alpha x\rVert^2/\lVert w\rVert^2) \approx \mathrm{SNR}` (exact for the
  expected noise energy).
- :class:`QuantizationChannel` — rounding to the 16-bit grid (what writing a WAV file does).
- :class:`ChannelChain` — channels applied in order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from synthcheck.audio.io import quantize_16bit, validate_audio
from synthcheck.errors import BadInputError


class Channel(ABC):
    """A (possibly random) map from a clean signal ``x`` to an observed signal ``y``."""

    #: Name used as ``"type"`` in :meth:`to_dict`.
    kind: ClassVar[str]

    @abstractmethod
    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return ``y`` (float32, same length as ``x``, clipped to [-1, 1]) for 1-D audio ``x``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, ``{"type": kind, **parameters}``; inverse of :meth:`from_dict`."""
        return {"type": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Channel:
        """Rebuild a channel from :meth:`to_dict` output (``Channel.from_dict`` accepts any channel type).

        Raises
        ------
        BadInputError
            Not a dict with a known ``"type"`` (of this class), or parameters the channel does not take.
        """
        if not isinstance(data, dict) or "type" not in data:
            raise BadInputError(f"channel config must be a dict with a 'type' key, got {data!r}")
        channel_type = _CHANNEL_TYPES.get(data["type"])
        if channel_type is None or not issubclass(channel_type, cls):
            known = ", ".join(sorted(k for k, t in _CHANNEL_TYPES.items() if issubclass(t, cls)))
            raise BadInputError(f"unknown channel type {data['type']!r}; known: {known}")
        params = {key: value for key, value in data.items() if key != "type"}
        try:
            return channel_type._from_params(params)
        except TypeError as exc:
            raise BadInputError(f"channel {data['type']!r}: bad parameters {params} ({exc})") from None

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Channel:
        return cls(**params)


@dataclass(frozen=True)
class AwgnChannel(Channel):
    """Attenuation then additive white Gaussian noise at ``snr_db`` relative to the attenuated signal."""

    kind: ClassVar[str] = "awgn"
    snr_db: float = 28.0
    attenuation: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.snr_db):
            raise BadInputError(f"AwgnChannel: snr_db must be finite, got {self.snr_db}")
        if not (math.isfinite(self.attenuation) and self.attenuation > 0):
            raise BadInputError(f"AwgnChannel: attenuation must be a positive number, got {self.attenuation}")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``y = clip(α·x + w)`` with ``E‖w‖² = ‖α·x‖² / 10^(snr_db/10)``."""
        scaled = self.attenuation * validate_audio(x, name="x", allow_silent=True).astype(np.float64)
        sigma = math.sqrt(float(np.dot(scaled, scaled)) / scaled.size / 10.0 ** (self.snr_db / 10.0))
        noisy = scaled + sigma * rng.standard_normal(scaled.size)
        return np.clip(noisy, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class QuantizationChannel(Channel):
    """Rounding to 16-bit PCM (deterministic; ``rng`` is unused)."""

    kind: ClassVar[str] = "quantize16"

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Round ``x`` to the grid ``k/32768`` (clipped to [-1, 32767/32768])."""
        return quantize_16bit(validate_audio(x, name="x", allow_silent=True))


@dataclass(frozen=True)
class ChannelChain(Channel):
    """Apply ``channels`` in order, all drawing from the same generator."""

    kind: ClassVar[str] = "chain"
    channels: tuple[Channel, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        for channel in self.channels:
            if not isinstance(channel, Channel):
                raise BadInputError(f"ChannelChain: {channel!r} is not a Channel")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``channels[-1](… channels[0](x))``; an empty chain returns ``x`` as float32 clipped to [-1, 1]."""
        y = np.clip(validate_audio(x, name="x", allow_silent=True), -1.0, 1.0)
        for channel in self.channels:
            y = channel.apply(y, rng)
        return y

    def to_dict(self) -> dict[str, Any]:
        """``{"type": "chain", "channels": [<to_dict of each>]}``."""
        return {"type": self.kind, "channels": [channel.to_dict() for channel in self.channels]}

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Channel:
        return cls(channels=tuple(Channel.from_dict(item) for item in params.pop("channels", [])), **params)


_CHANNEL_TYPES: dict[str, type[Channel]] = {
    cls.kind: cls for cls in (AwgnChannel, QuantizationChannel, ChannelChain)
}

