"""The Theorem 1.3 estimate on real pico2wave speech: fitted distances and the margin an attack must make."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthcheck.theory.theorem13 import Theorem13Row, fitted_distance, nearest_distance
from synthcheck.tts import get_synthesizer

SOURCE, TARGET = "it was the best of times", "he travels the fastest who travels alone"


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    voice = get_synthesizer("pico2wave", "en-US")
    return {text: voice.synthesize(text) for text in (SOURCE, TARGET)}


def test_a_rendering_aligned_to_itself_is_at_distance_zero(speech):
    c = speech[SOURCE]
    x = 0.5 * np.r_[np.zeros(800, np.float32), c]  # delayed by 50 ms and quieter: lag and gain are fitted
    norm = np.linalg.norm(x)
    assert fitted_distance(c, c) < 1e-4 * np.linalg.norm(c)
    assert fitted_distance(c, x) < 1e-4 * norm


def test_another_text_is_far_and_never_farther_than_silence(speech):
    x, other = speech[SOURCE], speech[TARGET]
    distance = fitted_distance(other, x)
    assert 0.5 * np.linalg.norm(x) < distance <= np.linalg.norm(x)  # the fitted gain could always be 0
    assert nearest_distance(x, [other, x]) < 1e-4 * np.linalg.norm(x)  # the nearest rendering is x itself
    assert nearest_distance(x, [other]) == distance


def test_the_margin_is_distance_minus_radius_with_its_snr(speech):
    x = speech[SOURCE]
    row = Theorem13Row.estimate(stage="targeted", source="tts", key="k", target=TARGET, x=x,
                                target_renderings=[speech[TARGET]], radius=1.0)
    norm = float(np.linalg.norm(x.astype(np.float64)))
    assert row.norm == pytest.approx(norm) and row.distance == fitted_distance(speech[TARGET], x)
    assert row.margin == pytest.approx(row.distance - 1.0) and row.margin > 0
    assert row.margin_snr_db == pytest.approx(20 * math.log10(norm / row.margin))


def test_a_radius_beyond_the_distance_makes_the_estimate_vacuous(speech):
    x = speech[SOURCE]
    row = Theorem13Row.estimate(stage="small-edit", source="tts", key="k", target=SOURCE, x=x,
                                target_renderings=[speech[TARGET], x], radius=0.5)
    assert row.margin < 0 and row.margin_snr_db is None
    unknown = Theorem13Row.estimate(stage="targeted", source="tts", key="k", target=TARGET, x=x,
                                    target_renderings=[speech[TARGET]], radius=math.nan)
    assert math.isnan(unknown.margin) and unknown.margin_snr_db is None
    assert unknown.to_dict()["radius"] is None and unknown.to_dict()["margin"] is None
