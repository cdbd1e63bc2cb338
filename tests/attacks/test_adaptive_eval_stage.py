"""The evaluate-detectors stage helpers (experiments/adaptive_eval.py) on attack results: the Theorem 1.3
estimate and the stage cache. They belong with tests/experiments once that package is adapted to the new API."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.attacks import Attack, AttackConfig, TargetText
from synthcheck.experiments.adaptive_eval import Clip, _load_results, _save_results, estimate_theorem13
from synthcheck.tts import synthesizer_from_id


def test_theorem_bound_is_positive_when_the_clean_codeword_is_exact() -> None:
    audio = synthesizer_from_id("pico2wave:en-US").synthesize("hello world")
    clip = Clip("tts", "hello", "hello world", audio, "hello world")
    bound = estimate_theorem13([clip], ["good morning"], [clip], voices=("pico2wave:en-US",))["tts"]
    assert bound["radius"] < 1e-3 * np.linalg.norm(audio)  # the clip is its own rendering
    row = bound["items"][0]
    assert row["bound"] == pytest.approx(row["distance"] - bound["radius"])
    assert row["bound"] > 0 and row["bound_snr_db"] is not None and row["bound_snr_db"] > 0


def test_stage_results_round_trip_through_the_cache(tiny, hello: np.ndarray, tmp_path) -> None:
    result = Attack(tiny, AttackConfig(max_steps=1, seed=0)).run([hello], TargetText("hello word"))[0]
    _save_results(tmp_path / "stage.npz", [result])
    (loaded,) = _load_results(tmp_path / "stage.npz")
    assert np.array_equal(loaded.adversarial, result.adversarial) and np.array_equal(loaded.original, result.original)
    assert (loaded.success, loaded.transcript, loaded.db_x, loaded.steps, loaded.linf_bound) == (
        result.success, result.transcript, result.db_x, result.steps, result.linf_bound)
