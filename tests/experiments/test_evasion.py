"""Evasion summary of the adaptive stages: counts, the non-adaptive budget, medians, computed from typed rows."""

from __future__ import annotations

import math

import pytest
from experiments.evaluation_rows import evaluation_part

from synthcheck.experiments.attack_evaluation import AttackEvaluation, EvaluationSettings, attack_evaluation
from synthcheck.report.detector_tables import evasion_table, markdown

HUMAN = "two-cities-human"
LIKELIHOOD = "likelihood-base"  # "likelihood" resolved: the judge independent of tiny.en
#: Three clean clips per detector: the 5 % threshold is the lowest, 0.6.
CLEAN = {(LIKELIHOOD, HUMAN): [0.6, 0.7, 0.8], ("dtw", HUMAN): [0.6, 0.7, 0.8]}
#: dB_x of clips a, b, c; the SNR is −dB_x − 12.
DB_X = {"small-edit": [-50.0, -45.0, -60.0], "adaptive-likelihood": [-52.0, -40.0, -55.0]}


def evaluation(adaptive: dict[str, list[float]], stages: tuple[str, ...] = ("small-edit", "adaptive-likelihood"),
               ) -> AttackEvaluation:
    """Clips a and b broken by small-edit (flagged by both detectors), c not: it has no budget."""
    settings = EvaluationSettings(sources=(HUMAN,), detectors=("likelihood", "dtw"), n_attack=3, n_clean=3,
                                  stages=stages)
    attacked = {(config, HUMAN, "small-edit"): [0.1, 0.1, None] for config in (LIKELIHOOD, "dtw")}
    attacked |= {(config, HUMAN, "adaptive-likelihood"): scores for config, scores in adaptive.items()}
    return attack_evaluation([evaluation_part(settings, CLEAN, attacked, db_x=DB_X)])


def test_evasion_counts_and_budget() -> None:
    # likelihood: all three evade (c exactly at the threshold: at or above evades); a is within small-edit's
    # -50 dB_x, b (-40 > -45) is not, c has no budget. dtw: only a evades (c's 0.59 is just below 0.6).
    result = evaluation({LIKELIHOOD: [0.9, 0.65, 0.6], "dtw": [0.7, 0.5, 0.59]})
    assert {(r.stage, r.source) for r in result.evasion} == {("adaptive-likelihood", HUMAN)}  # small-edit: no budget row
    rows = {r.detector: r for r in result.evasion}
    assert list(rows) == [LIKELIHOOD, "dtw"]
    likelihood = rows[LIKELIHOOD]
    assert (likelihood.n, likelihood.evaded, likelihood.within_budget) == (3, 3, 1)
    assert likelihood.median_db_x == -52.0 and likelihood.median_snr_db == 40.0
    assert (rows["dtw"].evaded, rows["dtw"].within_budget) == (1, 1)
    # at the detectors' configured threshold (0.5 in these rows, below the clean-calibrated 0.6) all of dtw's pass
    assert (likelihood.evaded_configured, rows["dtw"].evaded_configured) == (3, 3)
    assert rows["dtw"].median_db_x == -52.0
    adaptive = [i for i in result.items if i.stage == "adaptive-likelihood"]
    assert [i.evades for i in adaptive] == [{LIKELIHOOD: True, "dtw": True}, {LIKELIHOOD: True, "dtw": False},
                                            {LIKELIHOOD: True, "dtw": False}]
    assert [i.key for i in result.items if i.stage == "small-edit"] == [i.key for i in adaptive][:2]


def test_no_evasion_gives_nan_medians_and_a_table_dash() -> None:
    result = evaluation({LIKELIHOOD: [0.1, 0.2, 0.3], "dtw": [0.1, 0.2, 0.3]})
    assert [(r.evaded, r.within_budget) for r in result.evasion] == [(0, 0), (0, 0)]
    assert all(math.isnan(r.median_db_x) and math.isnan(r.median_snr_db) for r in result.evasion)
    table = markdown(evasion_table(result.evasion))
    assert f"| adaptive-likelihood | {HUMAN} | {LIKELIHOOD} | 0/3 | 0/3 | – | – | 0/3 |" in table
    assert result.to_dict()["evasion"][0]["median_db_x"] is None


def test_without_the_reference_stage_no_evasion_is_within_budget() -> None:
    result = evaluation({LIKELIHOOD: [0.9, 0.65, 0.6], "dtw": [0.7, 0.5, 0.59]}, stages=("adaptive-likelihood",))
    assert [(r.detector, r.evaded, r.within_budget) for r in result.evasion] == [(LIKELIHOOD, 3, 0), ("dtw", 1, 0)]


@pytest.mark.parametrize("stage", ["targeted", "small-edit"])
def test_non_adaptive_stages_have_no_evasion_rows(stage: str) -> None:
    settings = EvaluationSettings(sources=(HUMAN,), detectors=("dtw",), n_attack=1, n_clean=3, stages=(stage,))
    part = evaluation_part(settings, {("dtw", HUMAN): [0.6, 0.7, 0.8]}, {("dtw", HUMAN, stage): [0.9]},
                           db_x={stage: [-50.0]})
    result = attack_evaluation([part])
    assert result.evasion == [] and result.items[0].evades == {"dtw": True}
