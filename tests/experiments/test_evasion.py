"""Evasion summary of the adaptive stages: counts, the non-adaptive budget, medians."""

from __future__ import annotations

import math

import pytest

from synthcheck.experiments.adaptive_eval import AdaptiveEvaluation, evasion_rows, evasion_table


def row(stage: str, key: str, db_x: float, evades: dict[str, bool], source: str = "human") -> dict:
    return {"stage": stage, "source": source, "key": key, "db_x": db_x, "snr_db": -db_x - 10.0,
            "scores": {}, "evades": evades}


@pytest.fixture
def evaluation() -> AdaptiveEvaluation:
    stages = {name: {"human": {"n": 3}} for name in ("small-edit", "adaptive-likelihood")}
    items = [
        row("small-edit", "a", -50.0, {"likelihood": False}),
        row("small-edit", "b", -45.0, {"likelihood": False}),
        # c: the non-adaptive attack failed, so it has no budget
        row("adaptive-likelihood", "a", -52.0, {"likelihood": True, "dtw": True}),   # evades, within budget
        row("adaptive-likelihood", "b", -40.0, {"likelihood": True, "dtw": False}),  # evades, over budget
        row("adaptive-likelihood", "c", -55.0, {"likelihood": True, "dtw": False}),  # evades, no budget
    ]
    return AdaptiveEvaluation(settings={}, stages=stages, items=items)


def test_evasion_counts_and_budget(evaluation: AdaptiveEvaluation) -> None:
    rows = {r["detector"]: r for r in evasion_rows(evaluation)}
    assert set(rows) == {"likelihood", "dtw"}
    likelihood = rows["likelihood"]
    assert (likelihood["n"], likelihood["evaded"], likelihood["within_budget"]) == (3, 3, 1)
    assert likelihood["median_db_x"] == -52.0 and likelihood["median_snr_db"] == 42.0
    assert (rows["dtw"]["evaded"], rows["dtw"]["within_budget"]) == (1, 1)


def test_no_evasion_gives_nan_medians_and_a_table_dash(evaluation: AdaptiveEvaluation) -> None:
    for item in evaluation.items:
        item["evades"] = {name: False for name in item["evades"]}
    rows = evasion_rows(evaluation)
    assert all(r["evaded"] == 0 and math.isnan(r["median_snr_db"]) for r in rows)
    assert "| adaptive-likelihood | human | likelihood | 0/3 | 0/3 | – | – |" in evasion_table(evaluation)
    assert evaluation.to_dict()["evasion"][0]["median_db_x"] is None
