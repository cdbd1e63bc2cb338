"""Channels: realised SNR on real speech, seeding, clipping, quantisation, composition, the simulated room
(real pyroomacoustics), JSON configs, the channel factory and the paper's channel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scipy.signal import welch

from synthcheck.audio.channel import (
    CHANNEL_KINDS,
    PAPER_ATTENUATION,
    PAPER_SNR_DB,
    AwgnChannel,
    Channel,
    ChannelChain,
    QuantizationChannel,
    RoomChannel,
    channel_for,
    paper_channel,
)
from synthcheck.audio.io import SAMPLE_RATE, quantize_16bit
from synthcheck.audio.metrics import fitted_snr_db
from synthcheck.errors import BadInputError


@pytest.mark.parametrize("attenuation", [1.0, 0.5])
def test_awgn_realised_snr_on_speech(pico_speech, attenuation: float) -> None:
    speech = pico_speech("It was the best of times, it was the worst of times.")
    y = AwgnChannel(snr_db=28.0, attenuation=attenuation).apply(speech, np.random.default_rng(0))
    fit = fitted_snr_db(speech, y, max_lag=100)
    assert fit.lag == 0
    assert fit.alpha == pytest.approx(attenuation, rel=0.01)
    assert fit.snr_db == pytest.approx(28.0, abs=0.5)


def test_awgn_noise_energy_matches_in_expectation() -> None:
    x = (0.3 * np.sin(np.arange(4000) * 0.07)).astype(np.float32)
    channel = AwgnChannel(snr_db=10.0, attenuation=0.8)
    rng = np.random.default_rng(1)
    ratios = [np.sum((channel.apply(x, rng) - 0.8 * x.astype(np.float64)) ** 2) for _ in range(200)]
    expected = np.sum((0.8 * x.astype(np.float64)) ** 2) / 10.0
    assert np.mean(ratios) == pytest.approx(expected, rel=0.01)


def test_awgn_is_seeded_by_the_generator() -> None:
    x = np.random.default_rng(2).uniform(-0.5, 0.5, 2000).astype(np.float32)
    channel = AwgnChannel(snr_db=20.0)
    a = channel.apply(x, np.random.default_rng(7))
    b = channel.apply(x, np.random.default_rng(7))
    c = channel.apply(x, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_awgn_output_is_clipped() -> None:
    x = np.random.default_rng(3).uniform(-0.9, 0.9, 2000).astype(np.float32)
    y = AwgnChannel(snr_db=10.0, attenuation=3.0).apply(x, np.random.default_rng(0))
    assert np.max(np.abs(y)) == 1.0


def test_awgn_rejects_bad_parameters_and_audio() -> None:
    with pytest.raises(BadInputError, match="snr_db"):
        AwgnChannel(snr_db=float("nan"))
    with pytest.raises(BadInputError, match="attenuation"):
        AwgnChannel(attenuation=0.0)
    with pytest.raises(BadInputError, match="1-D"):
        AwgnChannel().apply(np.zeros((10, 2)), np.random.default_rng(0))


def test_quantization_rounds_to_the_16_bit_grid_and_is_idempotent() -> None:
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 5000).astype(np.float32)
    q = QuantizationChannel().apply(x, np.random.default_rng(0))
    np.testing.assert_array_equal(q * 32768.0, np.round(q * 32768.0))
    assert np.max(np.abs(q - x)) <= 0.5 / 32768.0 + 1e-9
    np.testing.assert_array_equal(QuantizationChannel().apply(q, np.random.default_rng(0)), q)


def test_chain_applies_channels_in_order_with_the_shared_generator() -> None:
    x = np.random.default_rng(5).uniform(-0.5, 0.5, 3000).astype(np.float32)
    awgn, quant = AwgnChannel(snr_db=25.0, attenuation=0.5), QuantizationChannel()
    chained = ChannelChain((awgn, quant)).apply(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    np.testing.assert_array_equal(chained, quant.apply(awgn.apply(x, rng), rng))
    np.testing.assert_array_equal(ChannelChain().apply(x, np.random.default_rng(0)), x)


def test_chain_hands_the_input_unclipped_to_its_first_channel() -> None:
    x = np.full(1000, 1.5, dtype=np.float32)  # out of range: the attenuation brings it back, as without a chain
    awgn = AwgnChannel(snr_db=200.0, attenuation=0.5)
    chained = ChannelChain((awgn, QuantizationChannel())).apply(x, np.random.default_rng(0))
    np.testing.assert_array_equal(chained, quantize_16bit(awgn.apply(x, np.random.default_rng(0))))
    assert chained[0] == 0.75
    np.testing.assert_array_equal(ChannelChain().apply(x, np.random.default_rng(0)), np.ones(1000, np.float32))


def test_configs_round_trip_through_json() -> None:
    chain = ChannelChain((AwgnChannel(snr_db=30.0, attenuation=0.5), ChannelChain((QuantizationChannel(),))))
    data = json.loads(json.dumps(chain.to_dict()))
    assert data == {
        "type": "chain",
        "channels": [
            {"type": "awgn", "snr_db": 30.0, "attenuation": 0.5},
            {"type": "chain", "channels": [{"type": "quantize16"}]},
        ],
    }
    assert Channel.from_dict(data) == chain
    assert AwgnChannel.from_dict({"type": "awgn", "snr_db": 12.0}) == AwgnChannel(snr_db=12.0)


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (Channel, {"type": "reverb"}, "unknown channel type"),
        (Channel, {"snr_db": 3.0}, "'type' key"),
        (Channel, {"type": "awgn", "snr": 3.0}, "bad parameters"),
        (AwgnChannel, {"type": "quantize16"}, "unknown channel type"),
        (Channel, {"type": "chain", "channels": [{"type": "nope"}]}, "unknown channel type"),
    ],
)
def test_bad_configs_are_clear_errors(cls: type[Channel], data: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        cls.from_dict(data)


SPEECH = "It was the best of times, it was the worst of times."


def test_room_is_seeded_by_the_generator_and_caches_its_response() -> None:
    x = np.random.default_rng(10).uniform(-0.5, 0.5, 8001).astype(np.float32)
    channel = RoomChannel(snr_db=20.0)
    a = channel.apply(x, np.random.default_rng(7))
    b = RoomChannel(snr_db=20.0).apply(x, np.random.default_rng(7))
    c = channel.apply(x, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert RoomChannel(snr_db=5.0).impulse_response() is channel.impulse_response()  # one computation per geometry
    assert not channel.impulse_response().flags.writeable


@pytest.mark.parametrize("snr_db", [28.0, 10.0])
def test_room_noise_is_at_the_snr_of_the_received_signal(pico_speech, snr_db: float) -> None:
    speech = pico_speech(SPEECH)
    channel = RoomChannel(snr_db=snr_db, attenuation=0.5)
    received = channel.received(speech)
    y = channel.apply(speech, np.random.default_rng(3)).astype(np.float64)
    noise = y - received
    assert 10 * np.log10(np.sum(received**2) / np.sum(noise**2)) == pytest.approx(snr_db, abs=0.1)
    # the unit-energy response keeps the level: the received power is attenuation² times the input's, roughly
    assert np.mean(received**2) / np.mean(speech.astype(np.float64) ** 2) == pytest.approx(0.25, rel=0.3)


def test_room_reverberates_yet_keeps_the_direct_path(pico_speech) -> None:
    import pyroomacoustics as pra

    channel = RoomChannel()
    rt60 = pra.experimental.measure_rt60(channel.impulse_response(), fs=SAMPLE_RATE, decay_db=30)
    assert rt60 == pytest.approx(channel.rt60, abs=0.07)
    speech = pico_speech(SPEECH)
    room = fitted_snr_db(speech, channel.apply(speech, np.random.default_rng(0)), max_lag=300)
    awgn = fitted_snr_db(speech, AwgnChannel(snr_db=28.0).apply(speech, np.random.default_rng(0)), max_lag=300)
    correlation = 1.0 / np.sqrt(1.0 + 10.0 ** (-room.snr_db / 10.0))  # |Pearson| of y with alpha * x(t - lag)
    assert awgn.lag == 0 and awgn.snr_db > 27.0
    assert 86 <= room.lag <= 130  # 1 m at 343 m/s (47 samples), pyroomacoustics' 40-sample latency, the filters
    assert 0.4 < correlation < 0.9  # smeared by reverberation and the band filters, still the same signal


def test_room_band_limits_cut_lows_and_highs_of_white_noise() -> None:
    x = np.random.default_rng(11).uniform(-0.5, 0.5, 4 * SAMPLE_RATE).astype(np.float32)
    y = RoomChannel(snr_db=200.0).apply(x, np.random.default_rng(0))
    freqs, p_in = welch(x, fs=SAMPLE_RATE, nperseg=1024)
    _, p_out = welch(y, fs=SAMPLE_RATE, nperseg=1024)

    def gain_db(band: np.ndarray) -> float:
        return float(10 * np.log10(p_out[band].sum() / p_in[band].sum()))

    mid = gain_db((freqs > 300) & (freqs < 3000))
    assert abs(mid) < 3.0
    assert gain_db(freqs < 100) < mid - 20.0
    assert gain_db(freqs > 7500) < mid - 25.0


def test_room_output_is_clipped_and_as_long_as_the_input() -> None:
    x = np.random.default_rng(12).uniform(-0.9, 0.9, 999).astype(np.float32)  # shorter than the response
    y = RoomChannel(attenuation=20.0).apply(x, np.random.default_rng(0))
    assert y.shape == x.shape and np.max(np.abs(y)) == 1.0
    silent = RoomChannel().apply(np.zeros(500, dtype=np.float32), np.random.default_rng(0))
    np.testing.assert_array_equal(silent, np.zeros(500, dtype=np.float32))


def test_room_config_round_trips_through_json() -> None:
    room = RoomChannel(snr_db=20.0, attenuation=0.5, rt60=0.3, source=[1.0, 1.0, 1.2], speaker_band=(200, 6000))
    assert room.source == (1.0, 1.0, 1.2) and room.speaker_band == (200.0, 6000.0)
    chain = ChannelChain((room, QuantizationChannel()))
    data = json.loads(json.dumps(chain.to_dict()))
    assert data["channels"][0] == {
        "type": "room", "snr_db": 20.0, "attenuation": 0.5, "room_dims": [4.0, 3.5, 2.7], "rt60": 0.3,
        "source": [1.0, 1.0, 1.2], "microphone": [2.2, 1.4, 1.0], "speaker_band": [200.0, 6000.0],
        "mic_highpass": 80.0,
    }
    assert Channel.from_dict(data) == chain


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rt60": 0.02}, "too short"),
        ({"source": (5.0, 1.0, 1.0)}, "not inside the room"),
        ({"microphone": (1.0, 1.0)}, "3 finite numbers"),
        ({"microphone": (1.2, 1.4, 1.0)}, "same point"),
        ({"speaker_band": (7000.0, 150.0)}, "speaker_band"),
        ({"mic_highpass": 9000.0}, "mic_highpass"),
        ({"attenuation": -1.0}, "attenuation"),
    ],
)
def test_room_rejects_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        RoomChannel(**params)


def test_channel_for_builds_the_named_channel_then_16_bits() -> None:
    assert CHANNEL_KINDS == ("awgn", "room", "none")
    quantize = QuantizationChannel()
    assert channel_for("awgn", 20.0, 0.5) == ChannelChain((AwgnChannel(snr_db=20.0, attenuation=0.5), quantize))
    assert channel_for("room", 20.0, 0.5) == ChannelChain((RoomChannel(snr_db=20.0, attenuation=0.5), quantize))
    assert channel_for("none", 20.0, 0.5) == ChannelChain((quantize,))  # recorded speech heard as recorded
    with pytest.raises(BadInputError, match="unknown channel 'reverb'; choose one of: awgn, room, none"):
        channel_for("reverb", 20.0, 0.5)


def test_paper_channel_is_attenuation_half_28_db_and_16_bits() -> None:
    assert (PAPER_SNR_DB, PAPER_ATTENUATION) == (28.0, 0.5)
    assert paper_channel() == channel_for("awgn", 28.0, 0.5)
    assert paper_channel().to_dict() == {
        "type": "chain",
        "channels": [{"type": "awgn", "snr_db": 28.0, "attenuation": 0.5}, {"type": "quantize16"}],
    }


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_factory_channels_round_trip_through_json(kind: str) -> None:
    channel = channel_for(kind, 20.0, 0.5)
    assert Channel.from_dict(json.loads(json.dumps(channel.to_dict()))) == channel


@pytest.mark.parametrize("kind", ("awgn", "room"))
def test_factory_channel_is_bit_identical_to_quantising_the_noisy_channel(pico_speech, kind: str) -> None:
    # the experiment's stage 1 computed quantize_16bit(<awgn or room>.apply(x, rng)) before the chain existed
    speech = pico_speech(SPEECH)
    noisy = {"awgn": AwgnChannel, "room": RoomChannel}[kind](snr_db=28.0, attenuation=0.5)
    old = quantize_16bit(noisy.apply(speech, np.random.default_rng(1234)))
    new = channel_for(kind, 28.0, 0.5).apply(speech, np.random.default_rng(1234))
    assert new.dtype == np.float32
    assert np.array_equal(new, old)
    np.testing.assert_array_equal(new * 32768.0, np.round(new * 32768.0))  # on the 16-bit grid
