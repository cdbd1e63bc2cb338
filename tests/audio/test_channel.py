"""Channels: realised SNR on real speech, seeding, clipping, quantisation, composition, JSON configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthcheck.audio.channel import AwgnChannel, Channel, ChannelChain, QuantizationChannel
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
