"""``synthcheck robustness``: per-clause rows from typed results (ratios, statuses, detector scores), the summary,
and the command end to end on the real Whisper tiny.en and pico2wave (one clause)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments.records import scored
from synthcheck.attacks.result import NoiseLevels
from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.experiments.config import ItemSpec
from synthcheck.experiments.results import AttackOutcome, CleanResult, ResultRow
from synthcheck.experiments.robustness import (
    ENCODER_WIDTH,
    RobustnessSettings,
    robustness_rows,
    summarise,
)

N = 32000  # two seconds


def rows_of(index: int, random_l2: float | None, untargeted_l2: float | None, *, exact: bool = True,
            noise_score: float = 0.1) -> list[ResultRow]:
    spec = ItemSpec(key=f"en-US@28dB/s{index:02d}", index=index, sentence=f"clause {index}", voice="en-US", snr_db=28.0)
    clean = CleanResult(transcript=f"clause {index}", detectors=scored(0.9), wer=0.0 if exact else 0.5,
                        input_seconds=N / 16000)
    levels = (NoiseLevels(None, None, None, None, None, None, None, 4) if random_l2 is None else
              NoiseLevels(90.0, 39.1, random_l2 * 0.8, random_l2, 30.0, random_l2 / 2, 0.75, 4))
    noise = AttackOutcome(transcript="clause changed", detectors=scored(noise_score), success=random_l2 is not None,
                          l2=random_l2 * 0.8 if random_l2 else math.nan, noise=levels)
    untargeted = AttackOutcome(transcript="clause altered", detectors=scored(0.2), success=untargeted_l2 is not None,
                               l2=untargeted_l2 if untargeted_l2 else math.nan, snr_db=45.0)
    return [ResultRow(spec, "random-noise", clean, noise), ResultRow(spec, "untargeted", clean, untargeted)]


def test_rows_give_the_ratio_the_status_and_each_changes_detector_scores():
    rows = robustness_rows("pico2wave:en-US", [*rows_of(0, 2.0, 0.1), *rows_of(1, None, 0.05, exact=False)],
                           "whisper-tiny.en", {"en-US@28dB/s00": N, "en-US@28dB/s01": N},
                           {"en-US@28dB/s00": (130.0, 4.0)})
    first, second = rows
    assert first.status == "flips" and first.ratio_untargeted == pytest.approx(20.0) and first.ratio_targeted is None
    assert first.sqrt_n_over_m == pytest.approx(math.sqrt(N / ENCODER_WIDTH["whisper-tiny.en"]))
    assert first.random_l2 == 2.0 and first.grid_t == 90.0 and first.untargeted_snr_db == 45.0
    assert first.noise_flip.scores == {"paper": 0.1} and first.noise_flip.flagged == {"paper": True}
    assert first.untargeted_flip.transcript == "clause altered"
    assert (first.fragility_ratio, first.fragility_stderr) == (130.0, 4.0) and rows[1].fragility_ratio is None
    # never flipped by noise: reported above the grid, not as radius 0 and not dropped; misrecognised clean
    assert second.status == "above the grid" and second.random_l2 is None and second.ratio_untargeted is None
    assert second.noise_flip is None and not second.clean_exact
    # a clause whose noise search has not run yet (a partly finished run) is not "above the grid"
    (pending,) = robustness_rows("v", rows_of(2, 1.0, 0.1)[1:], "whisper-tiny.en", {"en-US@28dB/s02": N})
    assert pending.status == "not measured yet" and pending.random_l2 is None


def test_summary_is_the_median_and_quartiles_of_the_ratios_that_exist():
    parts = [rows_of(i, r, 0.1) for i, r in enumerate((1.0, 2.0, 4.0, None))]
    rows = robustness_rows("v", [r for part in parts for r in part], "whisper-tiny.en",
                           {f"en-US@28dB/s{i:02d}": N for i in range(4)})
    (summary,) = summarise(rows)
    assert (summary.n, summary.n_flipped, summary.n_above_grid) == (4, 3, 1)
    assert summary.median_ratio == pytest.approx(20.0)
    assert (summary.q25_ratio, summary.q75_ratio) == pytest.approx(tuple(np.quantile([10, 20, 40], [0.25, 0.75])))
    assert math.isnan(summary.median_fragility_ratio)  # not measured


def test_settings_make_one_experiment_per_source_and_refuse_bad_ones():
    settings = RobustnessSettings(voices=("pico2wave:en-GB", "espeak-ng:en"), n=3, targeted=False)
    sources = settings.sources()
    assert list(sources) == ["pico2wave:en-GB", "espeak-ng:en", "two-cities-human"]
    gb = sources["pico2wave:en-GB"]
    assert (gb.tts_engine, gb.voices, gb.channel, gb.attacks) == ("pico2wave", ("en-GB",), "none",
                                                                  ("random-noise", "untargeted"))
    assert len(gb.sentences) == 3 and gb.attack_stop_db_x is None
    assert sources["espeak-ng:en"].tts_engine == "espeak-ng"
    assert sources["two-cities-human"].dataset == "two-cities-human"
    with pytest.raises(BadInputError, match="engine:voice"):
        RobustnessSettings(voices=("en-US",))
    with pytest.raises(BadInputError, match="at least one voice"):
        RobustnessSettings(voices=(), human=False)
    with pytest.raises(BadInputError, match="fragility ratio is measured on whisper-tiny.en only"):
        RobustnessSettings(recognizer="whisper-base", fragility=True)


def test_robustness_command_end_to_end_on_one_clause(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["robustness", "--voices", "pico2wave:en-US", "--no-human", "--n", "1", "--steps", "20",
            "--no-targeted", "--detectors", "paper", "--fragility", "--seed", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    (row,) = result["rows"]
    assert row["sentence"] == "It was the best of times" and row["n_samples"] > 16000
    assert row["status"] in ("flips", "above the grid")
    if row["random_l2"] is not None and row["untargeted_l2"] is not None:
        assert row["ratio_untargeted"] == pytest.approx(row["random_l2"] / row["untargeted_l2"])
    # Theorem 2's local ratio at the clause: far above 1 (the encoder is fragile), measured once and kept
    assert row["fragility_ratio"] > 10 and row["fragility_stderr"] > 0
    (work_dir,) = Path("runs").glob("robustness-*")
    assert len(json.loads((work_dir / "fragility.json").read_text())) == 1
    assert (work_dir / "report.html").is_file() and (work_dir / "pico2wave-en-US" / "results.sqlite").is_file()
    page = (work_dir / "report.html").read_text()
    assert "id='scatter'" in page and "DeepSpeech" in page
    # a rerun resumes: nothing is recomputed and the numbers are the same
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == result["rows"]


def test_report_robustness_renders_a_partial_run_and_refuses_what_is_no_work_directory(tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report-robustness", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err
    work = tmp_path / "runs" / "robustness-x"
    work.mkdir(parents=True)
    assert main(["report-robustness", str(work)]) == 2
    assert "no settings.json" in capsys.readouterr().err
    settings = RobustnessSettings(voices=("pico2wave:en-US",), human=False, n=1)
    (work / "settings.json").write_text(json.dumps(settings.to_dict()))
    assert main(["report-robustness", str(work), "--json"]) == 0  # no source started yet: an empty result
    assert json.loads(capsys.readouterr().out)["rows"] == [] and (work / "report.html").is_file()
