"""Pooling evaluate-detectors runs over different clauses: metrics recomputed, mismatches refused, CLI."""

from __future__ import annotations

import copy
import json

import pytest
from report.test_detectors_report import build_results

from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.experiments.adaptive_eval import AdaptiveEvaluation, pool_evaluations


def second_run(data: dict, offset: int = 3, shift: float = 0.0) -> dict:
    """The same run over other clauses: offset, clip keys renamed, attacked scores moved by ``shift``."""
    other = copy.deepcopy(data)
    other["settings"]["attack_offset"] = offset
    for item in other["items"]:
        item["key"] = item["key"] + "-b"
    for e in other["evaluations"]:
        e["attacked_scores"] = [s + shift for s in e["attacked_scores"]]
    return other


def test_round_trip_keeps_every_number() -> None:
    data = build_results()
    again = AdaptiveEvaluation.from_dict(data).to_dict()
    assert again["evaluations"] == data["evaluations"] and again["evasion"] == data["evasion"]


def test_pooled_metrics_are_recomputed_from_all_attacked_scores() -> None:
    data = build_results()
    pooled = pool_evaluations([AdaptiveEvaluation.from_dict(d) for d in (data, second_run(data, shift=0.5))])
    rows = {(e.config, e.source): e for e in pooled.evaluations}
    paper = rows["paper", "two-cities-tts / targeted"]
    # first run: 0.10, 0.20, 0.15 below every clean score; second run +0.5: 0.60, 0.70, 0.65, still below
    assert paper.n_attacked == 6 and paper.n_clean == 6 and paper.auc == 1.0 and paper.detection_rate == 1.0
    judge = rows["likelihood-tiny.en", "two-cities-tts / targeted"]
    # +0.5: 0.60, 0.70, 0.65 stay below the 0.79 threshold; the AUC stays 1
    assert judge.auc == 1.0 and judge.n_attacked == 6
    dtw = rows["dtw", "two-cities-human / targeted"]
    # +0.5 lifts all three above the clean scores (max 0.61): detected 2 of 6, AUC (13.5 + 0) / 36
    assert dtw.detection_rate == pytest.approx(2 / 6) and dtw.auc == pytest.approx(13.5 / 36)
    assert pooled.stages["targeted"]["two-cities-tts"]["n"] == 6 and pooled.settings["attack_offset"] == [0, 3]
    assert len(pooled.items) == 2 * len(data["items"])
    assert len(pooled.theorem13["targeted"]["two-cities-tts"]["items"]) == 2


def test_mismatched_runs_are_refused() -> None:
    data = build_results()
    first = AdaptiveEvaluation.from_dict(data)
    with pytest.raises(BadInputError, match="at least two"):
        pool_evaluations([first])
    with pytest.raises(BadInputError, match="same clauses"):
        pool_evaluations([first, AdaptiveEvaluation.from_dict(second_run(data, offset=2))])
    other_seed = second_run(data)
    other_seed["settings"]["seed"] = 7
    with pytest.raises(BadInputError, match="differ in seed"):
        pool_evaluations([first, AdaptiveEvaluation.from_dict(other_seed)])
    other_clean = second_run(data)
    other_clean["evaluations"][0]["clean_scores"][0] += 0.01
    with pytest.raises(BadInputError, match="clean scores of paper"):
        pool_evaluations([first, AdaptiveEvaluation.from_dict(other_clean)])


def test_report_detectors_pools_several_files(tmp_path, capsys) -> None:
    data = build_results()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(data))
    b.write_text(json.dumps(second_run(data)))
    assert main(["report-detectors", str(a), str(b), "-o", str(tmp_path / "pooled.html")]) == 0
    assert capsys.readouterr().out.strip().endswith("pooled.html")
    pooled = json.loads((tmp_path / "pooled.json").read_text())
    assert pooled["settings"]["n_attack"] == 6 and pooled["pooled_from"] == [str(a), str(b)]
    assert "<table" in (tmp_path / "pooled.html").read_text()
    assert main(["report-detectors", str(a), str(b)]) == 2
    assert "needs -o" in capsys.readouterr().err
