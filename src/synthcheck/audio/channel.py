r"""Channel models: what happens to a signal between the synthesiser and the classifier.

A :class:`Channel` maps :math:`x \mapsto y` with randomness from an explicit ``numpy.random.Generator``.
Every channel is a dataclass that serialises to JSON (:meth:`Channel.to_dict`, :meth:`Channel.from_dict`),
so an experiment can store the exact channel with its results. Outputs are float32, clipped to [-1, 1].

- :class:`AwgnChannel` — :math:`y = \alpha x + w`, :math:`w \sim \mathcal N(0, \sigma^2 I)` with
  :math:`\sigma^2 = \lVert\alpha x\rVert^2 / (N\,10^{\mathrm{SNR}/10})`, so
  :math:`\mathbb E\,10\log_{10}(\lVert\alpha x\rVert^2/\lVert w\rVert^2) \approx \mathrm{SNR}` (exact for the
  expected noise energy).
- :class:`RoomChannel` — the paper's recorded channel, simulated: a small PC loudspeaker plays ``x`` into
  a small office (image-source room impulse response from pyroomacoustics), a USB microphone records it, and
  room noise is added at ``snr_db`` relative to the received signal.
- :class:`QuantizationChannel` — rounding to the 16-bit grid (what writing a WAV file does).
- :class:`ChannelChain` — channels applied in order.

:func:`channel_for` is the one definition of a driver's channel: the named noisy channel (:data:`CHANNEL_KINDS`)
followed by 16-bit quantisation. :func:`paper_channel` is the paper's: attenuation :data:`PAPER_ATTENUATION`,
AWGN at :data:`PAPER_SNR_DB`, 16 bits; the experiment's defaults, ``evaluate-detectors`` and the built-in
example all use it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from synthcheck.audio.io import SAMPLE_RATE, quantize_16bit, validate_audio
from synthcheck.errors import BadInputError

#: The paper's channel: AWGN at this SNR (dB) ...
PAPER_SNR_DB = 28.0
#: ... after this attenuation (gain), then 16-bit quantisation (:func:`paper_channel`).
PAPER_ATTENUATION = 0.5


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
    snr_db: float = PAPER_SNR_DB
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
class RoomChannel(Channel):
    r"""A loudspeaker playing ``x`` in a small room, a microphone recording it, and room noise.

    :math:`y = \mathrm{clip}(s + w)`, with the received signal :math:`s = \alpha\,(h \star x)` (:meth:`received`)
    and :math:`h` = microphone ∘ room ∘ loudspeaker (:meth:`impulse_response`, scaled to unit energy, so white
    noise keeps its power times :math:`\alpha^2`). The room impulse response is pyroomacoustics' image-source
    model of a shoebox whose wall absorption and reflection order come from Sabine's formula for ``rt60``
    (:func:`pyroomacoustics.inverse_sabine`); it is deterministic, computed once per parameter set and cached.
    The direct-path delay is kept: ``y`` lags ``x`` by the propagation time plus pyroomacoustics' 40-sample
    fractional-delay latency and the filters' group delay (best lag about 95 samples, 6 ms, by default), and
    the reverberant tail beyond ``len(x)`` is cut, so ``y`` has the length of ``x``. At the default 1 m the
    microphone is beyond the room's critical distance (about 0.6 m): reverberation carries more energy than
    the direct sound, and ``y`` correlates with ``x`` at about 0.5 at its best lag on pico2wave speech.

    The noise :math:`w` is pink (power ∝ 1/f above 20 Hz, as fans and ventilation sound; a model choice, not a
    measurement) recorded through the same microphone, drawn from ``rng`` alone and scaled so that
    :math:`\lVert s\rVert^2/\lVert w\rVert^2 = 10^{\mathrm{SNR}/10}` exactly.

    Parameters
    ----------
    snr_db
        Noise level relative to the received signal, in dB.
    attenuation
        Gain of the whole chain (the recording level).
    room_dims
        Length, width and height of the room, in metres (a small office).
    rt60
        Reverberation time in seconds (0.35 s: a furnished office). It must be reachable in the room (wall
        energy absorption at most 1).
    source, microphone
        Loudspeaker and microphone positions in metres, 1 m apart at desk height, off the room's symmetry
        planes.
    speaker_band
        Pass band of the loudspeaker in Hz: 4th-order Butterworth band-pass (a small PC speaker).
    mic_highpass
        Low-cut corner of the microphone in Hz: 2nd-order Butterworth high-pass (a USB microphone).
    """

    kind: ClassVar[str] = "room"
    snr_db: float = PAPER_SNR_DB
    attenuation: float = 1.0
    room_dims: tuple[float, float, float] = (4.0, 3.5, 2.7)
    rt60: float = 0.35
    source: tuple[float, float, float] = (1.2, 1.4, 1.0)
    microphone: tuple[float, float, float] = (2.2, 1.4, 1.0)
    speaker_band: tuple[float, float] = (150.0, 7000.0)
    mic_highpass: float = 80.0

    def __post_init__(self) -> None:
        for name, size in (("room_dims", 3), ("source", 3), ("microphone", 3), ("speaker_band", 2)):
            object.__setattr__(self, name, _float_tuple(name, getattr(self, name), size))
        if not math.isfinite(self.snr_db):
            raise BadInputError(f"RoomChannel: snr_db must be finite, got {self.snr_db}")
        if not (math.isfinite(self.attenuation) and self.attenuation > 0):
            raise BadInputError(f"RoomChannel: attenuation must be a positive number, got {self.attenuation}")
        if not all(d > 0 for d in self.room_dims):
            raise BadInputError(f"RoomChannel: room_dims must be positive lengths in metres, got {self.room_dims}")
        for name in ("source", "microphone"):
            if not all(0 < p < d for p, d in zip(getattr(self, name), self.room_dims)):
                raise BadInputError(f"RoomChannel: {name} {getattr(self, name)} is not inside the room "
                                    f"{self.room_dims}")
        if self.source == self.microphone:
            raise BadInputError("RoomChannel: source and microphone are at the same point; move one of them")
        low, high = self.speaker_band
        if not 0 < low < high < SAMPLE_RATE / 2:
            raise BadInputError(f"RoomChannel: speaker_band must be 0 < low < high < {SAMPLE_RATE // 2} Hz, "
                                f"got {self.speaker_band}")
        if not 0 < self.mic_highpass < SAMPLE_RATE / 2:
            raise BadInputError(f"RoomChannel: mic_highpass must be in (0, {SAMPLE_RATE // 2}) Hz, "
                                f"got {self.mic_highpass}")
        if not (math.isfinite(self.rt60) and self.rt60 > 0):
            raise BadInputError(f"RoomChannel: rt60 must be a positive number of seconds, got {self.rt60}")
        _sabine(self.rt60, self.room_dims)  # refuses an rt60 the room cannot have

    def impulse_response(self) -> np.ndarray:
        """Loudspeaker, room and microphone response ``h`` (float64, read-only, unit energy; cached)."""
        return _impulse_response(self.room_dims, self.rt60, self.source, self.microphone, self.speaker_band,
                                 self.mic_highpass)

    def received(self, x: np.ndarray) -> np.ndarray:
        """The noiseless recording ``s = α·(h ⋆ x)``, cut to ``len(x)`` (float64)."""
        x = validate_audio(x, name="x", allow_silent=True).astype(np.float64)
        return self.attenuation * fftconvolve(x, self.impulse_response())[: x.size]

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``y = clip(s + w)``: the received signal plus microphone-filtered pink noise at ``snr_db``."""
        signal = self.received(x)
        noise = sosfilt(_highpass_sos(self.mic_highpass), _pink_noise(signal.size, rng))
        noise_energy = float(np.dot(noise, noise))
        target = float(np.dot(signal, signal)) / 10.0 ** (self.snr_db / 10.0)
        scale = math.sqrt(target / noise_energy) if noise_energy > 0 else 0.0
        return np.clip(signal + scale * noise, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class QuantizationChannel(Channel):
    """Rounding to 16-bit PCM (deterministic; ``rng`` is unused)."""

    kind: ClassVar[str] = "quantize16"

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Round ``x`` to the grid ``k/32768`` (clipped to [-1, 32767/32768])."""
        return quantize_16bit(validate_audio(x, name="x", allow_silent=True))


@dataclass(frozen=True)
class ChannelChain(Channel):
    """Apply ``channels`` in order, all drawing from the same generator (a driver's channel: :func:`channel_for`)."""

    kind: ClassVar[str] = "chain"
    channels: tuple[Channel, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        for channel in self.channels:
            if not isinstance(channel, Channel):
                raise BadInputError(f"ChannelChain: {channel!r} is not a Channel")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``channels[-1](… channels[0](x))``, float32 clipped to [-1, 1] (an empty chain only clips ``x``).

        The first channel sees ``x`` itself, so a chain ``(c, QuantizationChannel())`` is exactly
        ``quantize_16bit(c.apply(x, rng))``.
        """
        y = validate_audio(x, name="x", allow_silent=True)
        for channel in self.channels:
            y = channel.apply(y, rng)
        return np.clip(y, -1.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": "chain", "channels": [<to_dict of each>]}``."""
        return {"type": self.kind, "channels": [channel.to_dict() for channel in self.channels]}

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Channel:
        return cls(channels=tuple(Channel.from_dict(item) for item in params.pop("channels", [])), **params)


_CHANNEL_TYPES: dict[str, type[Channel]] = {
    cls.kind: cls for cls in (AwgnChannel, RoomChannel, QuantizationChannel, ChannelChain)
}
#: Channels an experiment can name (:func:`channel_for`): the paper's AWGN, and the simulated recording room.
CHANNEL_KINDS = ("awgn", "room", "none")
#: Pink noise is flat below this frequency (Hz), so its power stays finite.
_PINK_FLOOR_HZ = 20.0
#: Zeros appended to the room response before the band filters, so their tails are kept (0.1 s).
_FILTER_TAIL = SAMPLE_RATE // 10


def channel_for(kind: str, snr_db: float, attenuation: float) -> ChannelChain:
    """A driver's channel: ``kind`` (one of :data:`CHANNEL_KINDS`) at ``snr_db`` after ``attenuation``, then 16 bits.

    ``"awgn"`` is ``ChannelChain((AwgnChannel(snr_db, attenuation), QuantizationChannel()))``, ``"room"`` the
    same with :class:`RoomChannel` (default geometry) in place of the AWGN; ``"none"`` only rounds to 16 bits
    (recorded speech heard as recorded; ``snr_db`` and ``attenuation`` are then unused).

    Raises
    ------
    BadInputError
        ``kind`` is not a known channel name.
    """
    if kind not in CHANNEL_KINDS:
        raise BadInputError(f"unknown channel {kind!r}; choose one of: {', '.join(CHANNEL_KINDS)}")
    if kind == "none":
        return ChannelChain((QuantizationChannel(),))
    return ChannelChain((_CHANNEL_TYPES[kind](snr_db=snr_db, attenuation=attenuation), QuantizationChannel()))


def paper_channel() -> ChannelChain:
    """The paper's channel: attenuation :data:`PAPER_ATTENUATION`, AWGN at :data:`PAPER_SNR_DB`, 16 bits."""
    return channel_for("awgn", PAPER_SNR_DB, PAPER_ATTENUATION)


def _float_tuple(name: str, value: Any, size: int) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != size or not all(math.isfinite(v) for v in values):
        raise BadInputError(f"RoomChannel: {name} must be {size} finite numbers, got {value!r}")
    return values


def _sabine(rt60: float, room_dims: tuple[float, ...]) -> tuple[float, int]:
    """Wall energy absorption and image-source order giving ``rt60`` in the room (Sabine's formula)."""
    import pyroomacoustics as pra

    try:
        absorption, max_order = pra.inverse_sabine(rt60, list(room_dims))
    except ValueError:
        raise BadInputError(f"RoomChannel: rt60 {rt60} s is too short for a {room_dims} m room (walls would absorb "
                            "more than all the energy); give a longer rt60 or a smaller room") from None
    return float(absorption), int(max_order)


def _highpass_sos(corner_hz: float) -> np.ndarray:
    """2nd-order Butterworth high-pass (the microphone's low cut)."""
    return butter(2, corner_hz, btype="highpass", fs=SAMPLE_RATE, output="sos")


@lru_cache(maxsize=16)
def _impulse_response(room_dims: tuple[float, ...], rt60: float, source: tuple[float, ...],
                      microphone: tuple[float, ...], speaker_band: tuple[float, ...],
                      mic_highpass: float) -> np.ndarray:
    """See :meth:`RoomChannel.impulse_response` (the geometry and filters fix it; one computation per set)."""
    import pyroomacoustics as pra

    absorption, max_order = _sabine(rt60, room_dims)
    room = pra.ShoeBox(list(room_dims), fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(list(source))
    room.add_microphone(list(microphone))
    room.compute_rir()
    rir = np.concatenate([np.asarray(room.rir[0][0], dtype=np.float64), np.zeros(_FILTER_TAIL)])
    speaker = butter(4, speaker_band, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    response = sosfilt(_highpass_sos(mic_highpass), sosfilt(speaker, rir))
    response /= np.linalg.norm(response)
    response.setflags(write=False)
    return response


def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of zero-mean noise with power ∝ 1/f (flat below :data:`_PINK_FLOOR_HZ`), unscaled."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE), _PINK_FLOOR_HZ))
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)

