"""Targeted attack (one Attack loop, TargetText criterion) on real Whisper tiny.en with real pico2wave speech."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthcheck.attacks import Attack, AttackConfig, TargetText
from synthcheck.audio.io import load_audio
from synthcheck.audio.metrics import normalize_text
from synthcheck.errors import BadInputError

TARGET = "open the door"


@pytest.fixture(scope="module")
def batch_results(tiny, hello, best):
    """Two utterances of different lengths attacked in one batch, stopping once both are below -30 dB."""
    config = AttackConfig(max_steps=60, learning_rate=20.0, stop_db_x=-30.0, seed=0)
    steps_seen: list[int] = []
    results = Attack(tiny, config).run([hello, best], TargetText(TARGET), progress=lambda p: steps_seen.append(p.step))
    return results, steps_seen


def test_batch_succeeds_confirmed_by_decode(batch_results, tiny, hello, best):
    results, steps_seen = batch_results
    assert [r.success for r in results] == [True, True]
    for result, clean in zip(results, (hello, best)):
        assert result.kind == "targeted"  # the criterion's kind when the attack is not a named one
        assert result.adversarial.shape == clean.shape  # padding was not attached to the item
        assert normalize_text(result.transcript) == TARGET
        assert result.first_success_step is not None and result.first_success_step <= result.steps
        assert len(result.loss_curve) == result.steps
        assert result.linf_bound < 2000.0  # the bound shrank after a success
    assert steps_seen == list(range(1, results[0].steps + 1))
    # an independent greedy decode of the returned audio agrees
    assert [normalize_text(t) for t in tiny.transcribe_batch([r.adversarial for r in results])] == [TARGET, TARGET]


def test_distortion_matches_independent_numpy(batch_results, hello):
    result = batch_results[0][0]
    assert np.array_equal(result.original, hello)
    samples = result.adversarial.astype(np.float64) * 32768
    assert np.array_equal(samples, np.round(samples))  # exact 16-bit values
    delta = result.adversarial.astype(np.float64) - hello.astype(np.float64)
    expected_db_x = 20 * np.log10(np.abs(delta).max()) - 20 * np.log10(np.abs(hello).max())
    expected_snr = 10 * np.log10(np.sum(hello.astype(np.float64) ** 2) / np.sum(delta**2))
    assert result.db_x == pytest.approx(expected_db_x, abs=1e-3)
    assert result.snr_db == pytest.approx(expected_snr, abs=1e-3)
    assert result.db_x <= -30.0
    assert result.fitted_snr_db == pytest.approx(result.snr_db, abs=1.0)  # no delay/attenuation involved


def test_saved_wav_read_back_decodes_to_target(batch_results, tiny, tmp_path):
    result = batch_results[0][1]
    path = result.save(tmp_path / "adv.wav")
    loaded = load_audio(path)
    assert np.array_equal(loaded, result.adversarial)
    assert normalize_text(tiny.transcribe(loaded)) == TARGET
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["success"] is True and sidecar["target"] == TARGET
    assert sidecar["db_x"] == pytest.approx(result.db_x) and sidecar["linf_bound"] == result.linf_bound
    assert sidecar["config"]["type"] == "AttackConfig" and sidecar["config"]["max_steps"] == 60
    assert sidecar["config"]["criterion"] == "TargetText"


def test_result_from_dict_inverts_to_dict(batch_results):
    result = batch_results[0][0]
    again = type(result).from_dict(json.loads(json.dumps(result.to_dict())), result.adversarial, result.original)
    assert again.to_dict() == result.to_dict() and again.adversarial is result.adversarial
    assert (again.db_x, again.linf_bound, again.loss_curve) == (result.db_x, result.linf_bound, result.loss_curve)
    zero = type(result).from_dict(
        {**result.to_dict(), "db_x": None, "snr_db": None, "fitted_snr_db": None}, result.original, result.original
    )
    assert (zero.db_x, zero.snr_db, zero.fitted_snr_db) == (-np.inf, np.inf, np.inf)
    stale = {**result.to_dict(), "bound": result.linf_bound}
    del stale["linf_bound"]
    with pytest.raises(BadInputError, match="not an attack result summary .*bound"):
        type(result).from_dict(stale, result.adversarial, result.original)


def test_same_config_seed_same_result_other_seed_differs(tiny, hello):
    def run(seed: int):
        return Attack(tiny, AttackConfig(max_steps=2, seed=seed)).run([hello], TargetText(TARGET))[0]

    first, again, other = run(7), run(7), run(8)
    assert np.array_equal(first.adversarial, again.adversarial)
    assert first.loss_curve == again.loss_curve
    assert not np.array_equal(first.adversarial, other.adversarial)
    assert first.config["seed"] == 7 and other.config["seed"] == 8


def test_the_l2_loop_keeps_the_perturbation_in_its_ball(tiny, hello):
    # the L2 ball's radius in 16-bit steps; rounding to 16 bits adds at most 0.5 per sample to the final norm
    radius = 300.0  # below the initial noise's L2 norm (±8 steps uniform: ~4.6·sqrt(n)), so the ball binds at once
    result = Attack(tiny, AttackConfig(max_steps=5, norm="l2", initial_bound=radius, seed=0)).run(
        [hello], TargetText(TARGET))[0]
    change = (result.adversarial.astype(np.float64) - hello) * 32768
    assert 0 < np.linalg.norm(change) <= radius + 0.5 * np.sqrt(change.size)
    assert np.abs(change).max() < radius  # a ball, not the L∞ box of the same radius
    assert result.config["norm"] == "l2" and result.linf_bound <= radius
