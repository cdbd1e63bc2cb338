"""The random-noise search on the real Whisper tiny.en: the original's grid and first flip, the refined level,
seeded draws, inputs the grid never flips, and the pipeline's view of it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthcheck.attacks import AttackConfig, WordErrorAbove
from synthcheck.attacks.noise import GRID_T, RandomNoiseSearch
from synthcheck.audio.metrics import word_error_rate
from synthcheck.errors import BadInputError


def test_the_grid_is_the_original_codes():
    assert GRID_T[:3] == (610.0, 590.0, 570.0) and GRID_T[-2:] == (10.0, 0.5) and len(GRID_T) == 32


@pytest.fixture(scope="module")
def searched(tiny, best):
    search = RandomNoiseSearch(tiny, AttackConfig(seed=5), draws=2, refine_steps=2)
    return search.run([best], WordErrorAbove(None, threshold=0.0)), best


def test_first_flip_changes_the_transcript_and_the_refined_level_brackets_half_the_draws(searched, tiny):
    (result,), x = searched
    levels = result.noise
    clean = tiny.transcribe_batch([x])[0]
    assert result.success and result.target == clean.strip()
    assert word_error_rate(clean, result.transcript) > 0  # the stored draw really changes what Whisper hears
    assert word_error_rate(clean, tiny.transcribe_batch([result.adversarial])[0]) > 0
    assert levels.grid_t in GRID_T and levels.grid_snr_db == pytest.approx(20 * math.log10(levels.grid_t))
    noise = result.adversarial.astype(np.float64) - x
    assert levels.grid_l2 == pytest.approx(float(np.linalg.norm(noise)))
    # the drawn noise is at the grid's SNR (std(x)/t, before 16-bit rounding and clipping)
    assert 10 * math.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(noise**2)) == pytest.approx(
        levels.grid_snr_db, abs=1.0)
    if levels.level_l2 is not None:
        assert levels.flip_fraction >= 0.5 and levels.low_l2 < levels.level_l2
    assert result.linf_bound > 0 and result.steps >= 2 and result.kind == "random-noise"


def test_the_search_is_seeded(searched, tiny, best):
    (first,), _ = searched
    (again,) = RandomNoiseSearch(tiny, AttackConfig(seed=5), draws=2, refine_steps=2).run(
        [best], WordErrorAbove(None, threshold=0.0))
    assert again.noise == first.noise and np.array_equal(again.adversarial, first.adversarial)


def test_an_input_the_grid_never_flips_is_reported_above_the_grid(tiny, hello):
    # an unreachable criterion: a word error rate above 500 on a two-word reference (Whisper emits < 448 tokens)
    (result,) = RandomNoiseSearch(tiny, AttackConfig(seed=0), draws=1, refine_steps=1).run(
        [hello], WordErrorAbove("hello world", threshold=500.0))
    assert not result.success and result.noise.above_grid
    assert result.noise.level_l2 is None and result.noise.grid_snr_db is None
    assert result.steps == len(GRID_T)  # every level of the grid was tried, once


def test_bad_settings_are_clear_errors(tiny):
    with pytest.raises(BadInputError, match="draws"):
        RandomNoiseSearch(tiny, draws=0)
    with pytest.raises(BadInputError, match="no utterances"):
        RandomNoiseSearch(tiny).run([], WordErrorAbove("x", 0.0))
