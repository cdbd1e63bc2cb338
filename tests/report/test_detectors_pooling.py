"""Pooling evaluate-detectors runs over different clauses: metrics recomputed, mismatches refused, CLI."""

from __future__ import annotations

import dataclasses
import json

import pytest
from experiments.evaluation_rows import BATCH_SECONDS, evaluation_part, write_work_dir
from report.test_detectors_report import (ATTACKED, CLEAN, DB_X, HUMAN, SETTINGS, STORED_SETTINGS, TTS, build_part,
                                          latency, target)

from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.experiments.attack_evaluation import attack_evaluation

#: The second run attacks clauses 6–8: its clauses 7 and 8 are beyond n_clean (exact, but no calibration clips).
OFFSET = 6


def second_part(shift: float = 0.0, clean: dict = CLEAN, **changes):
    """The same run over clauses OFFSET…OFFSET + 2, every attacked score moved by ``shift``."""
    settings = dataclasses.replace(SETTINGS, **{"attack_offset": OFFSET, **changes})
    attacked = {k: [s + shift for s in scores] for k, scores in ATTACKED.items()}
    return evaluation_part(settings, clean, attacked, db_x=DB_X, target=target, latency=latency)


def test_pooled_metrics_are_recomputed_from_all_attacked_scores() -> None:
    first, second = build_part(), second_part(shift=0.5)
    pooled = attack_evaluation([first, second])
    paper = pooled.evaluation("paper", TTS, "targeted")
    # first run: 0.10, 0.20, 0.15 below every clean score; second run +0.5: 0.60, 0.70, 0.65, still below
    assert paper.n_attacked == 6 and paper.n_clean == 6 and paper.auc == 1.0 and paper.detection_rate == 1.0
    judge = pooled.evaluation("likelihood-tiny.en", TTS, "targeted")
    # +0.5: 0.60, 0.70, 0.65 stay below the 0.79 threshold; the AUC stays 1
    assert judge.auc == 1.0 and judge.n_attacked == 6 and judge.threshold == 0.79
    dtw = pooled.evaluation("dtw", HUMAN, "targeted")
    # +0.5 lifts all three above the clean scores (max 0.61): detected 2 of 6, AUC (13.5 + 0) / 36
    assert dtw.detection_rate == pytest.approx(2 / 6) and dtw.auc == pytest.approx(13.5 / 36)
    assert dtw.attacked_scores == [0.30, 0.60, 0.50, 0.80, 1.10, 1.00]
    stage = next(s for s in pooled.stages if (s.stage, s.source) == ("targeted", TTS))
    assert (stage.n, stage.successes, stage.seconds) == (6, 6, 2 * BATCH_SECONDS)  # one batch per run
    assert pooled.offsets == (0, OFFSET) and pooled.n_attack == 6
    alone = [attack_evaluation([part]) for part in (first, second)]
    assert len(pooled.items) == sum(len(a.items) for a in alone) == 30
    assert len({(i.stage, i.source, i.key) for i in pooled.items}) == 30  # the runs' clips are distinct
    likelihood = next(r for r in pooled.evasion if (r.source, r.detector) == (TTS, "likelihood-tiny.en"))
    # first run: 0.83, 0.86 evade 0.79; second: all of 1.33, 0.80, 1.36 do
    assert (likelihood.n, likelihood.evaded) == (6, 5)


def test_mismatched_runs_are_refused() -> None:
    first = build_part()
    with pytest.raises(BadInputError, match="no evaluate-detectors run"):
        attack_evaluation([])
    with pytest.raises(BadInputError, match="same clauses"):
        attack_evaluation([first, second_part(attack_offset=2)])
    with pytest.raises(BadInputError, match="differ in seed"):
        attack_evaluation([first, second_part(seed=7)])
    with pytest.raises(BadInputError, match="differ in detectors"):
        attack_evaluation([first, second_part(detectors=("paper", "dtw"))])
    with pytest.raises(BadInputError, match="different attack stages"):
        attack_evaluation([first, second_part(stages=("targeted", "small-edit"))])
    other_clean = {**CLEAN, ("paper", TTS): [CLEAN["paper", TTS][0] + 0.01, *CLEAN["paper", TTS][1:]]}
    with pytest.raises(BadInputError, match=f"clean scores on {TTS} differ"):
        attack_evaluation([first, second_part(clean=other_clean)])
    # Another --threads sums in another order (measured: 2e-7 relative on Whisper's likelihood): still poolable.
    rounding = {key: [v * (1 + 2e-7) for v in scores] for key, scores in CLEAN.items()}
    assert attack_evaluation([first, second_part(clean=rounding)]).offsets == (0, OFFSET)


def test_report_detectors_pools_several_work_directories(tmp_path, capsys) -> None:
    first = build_part(settings=STORED_SETTINGS)
    second = second_part(shift=0.5, stages=STORED_SETTINGS.stages)
    a, b = write_work_dir(first, tmp_path / "a"), write_work_dir(second, tmp_path / "b")
    assert main(["report-detectors", str(a), str(b), "-o", str(tmp_path / "pooled.html")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "pooled.html")
    pooled = json.loads((tmp_path / "pooled.json").read_text())
    assert pooled["n_attack"] == 6 and pooled["offsets"] == [0, OFFSET]
    assert pooled["evaluations"] == attack_evaluation([first, second]).to_dict()["evaluations"]
    assert "<table id='detectors'>" in (tmp_path / "pooled.html").read_text()
    assert main(["report-detectors", str(a), str(b)]) == 2
    assert "needs -o" in capsys.readouterr().err
