"""`synthcheck sweep` (clean stage over a voice x SNR grid) and `synthcheck report` rebuilding from the store."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from synthcheck.cli import main
from synthcheck.detect.registry import get_comparator
from synthcheck.experiments.pipeline import ExperimentRun
from synthcheck.experiments.store import ResultsStore
from synthcheck.tts import get_synthesizer


def test_sweep_writes_one_report_with_metrics_per_cell_and_report_rebuilds_it(tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("it was the best of times\n")
    run_dir = tmp_path / "sweep"
    argv = ["sweep", "--snr", "10,40", "--voice", "en-US,en-GB", "--sentences", str(sentences),
            "--recognizer", "whisper-tiny.en", "--clean-only", "--seed", "3", "--run-dir", str(run_dir), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_items"] == 4 and summary["n_clean"] == 4 and summary["n_attacked"] == 0

    run = ExperimentRun.read(run_dir)
    assert run.config.snr_dbs == (10.0, 40.0) and run.config.voices == ("en-US", "en-GB")
    assert sorted(r.group for r in run.rows) == ["en-GB@10dB", "en-GB@40dB", "en-US@10dB", "en-US@40dB"]
    by_group = {r.group: r.clean for r in run.rows}
    paper = get_comparator("xcorr-paper")
    with ResultsStore.read(run_dir) as store:
        audio = {group: {name: store.read_array(rel) for name, rel in clean.audio.items()}
                 for group, clean in by_group.items()}
    for group, clean in by_group.items():
        # the stored score is the paper's correlation of the stored channel output with the stored re-synthesis
        assert clean.score == pytest.approx(
            paper.score(audio[group]["channel"], audio[group]["clean_resynth"]).score, abs=1e-4)
    # More noise, lower correlation with the clean synthesis (same voice, same text): each channel output
    # against the TTS of the *source sentence*, which does not depend on what the recogniser heard.
    for voice in ("en-US", "en-GB"):
        source = get_synthesizer("pico2wave", voice).synthesize("it was the best of times")
        scores = {}
        for snr in (10, 40):
            stored_source = audio[f"{voice}@{snr}dB"]["clean"]
            assert stored_source.size == source.size and np.abs(stored_source - source).max() <= 1 / 32768
            scores[snr] = paper.score(audio[f"{voice}@{snr}dB"]["channel"], source).score
        assert scores[10] < scores[40] and scores[40] > 0.99, (voice, scores)

    page = (run_dir / "report.html").read_text()
    groups = re.search(r"<table id='groups'>(.*?)</table>", page, re.S).group(1)
    assert groups.count("<tr class='group'>") == 4 and "en-GB@10dB" in groups

    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir), "--json"]) == 0
    rebuilt = json.loads(capsys.readouterr().out)
    assert rebuilt["n_items"] == 4 and (run_dir / "report.html").is_file()
    assert rebuilt["false_positive_rate"] == summary["false_positive_rate"]


def test_report_of_a_directory_without_results_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no results.sqlite" in err and len(err.splitlines()) == 1


def test_bad_sweep_list_is_a_one_line_error(tmp_path, capsys):
    assert main(["sweep", "--snr", "20,,40", "--run-dir", str(tmp_path / "x")]) == 2
    assert "--snr" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_flags_override_the_config_file_which_overrides_the_defaults(tmp_path):
    from synthcheck.cli.experiment import _build_config, _default_run_dir
    from synthcheck.experiments.config import ExperimentConfig

    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"snr_dbs": [20], "seed": 5, "recognizer": "whisper-base"}))
    config = _build_config(True, path, None, seed=9, recognizer=None)
    assert config.snr_dbs == (20.0,) and config.seed == 9 and config.recognizer == "whisper-base"
    assert len(config.sentences) == 3 and config.attack_steps == 150  # the rest from --quick
    assert _default_run_dir(ExperimentConfig.quick(), quick=True).name == "quick"
    assert _default_run_dir(ExperimentConfig(), quick=False).name == "paper"
    assert _default_run_dir(config, quick=True).name == f"quick-{config.config_hash()[:8]}"


def test_attack_on_a_recogniser_without_gradients_is_refused_before_any_work(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["reproduce", "--quick", "--recognizer", "pocketsphinx", "--run-dir", str(run_dir)]) == 2
    assert "--clean-only" in capsys.readouterr().err
    assert not run_dir.exists()


def test_attack_kinds_run_side_by_side_with_their_own_targets(tmp_path, capsys):
    """--attacks sweeps attack kinds: small-edit items aim at an edit of their sentence, the default kind at the
    fixed target; the report has one ROC panel per attack and a row per cell."""
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("it was the season of light\n")
    run_dir = tmp_path / "attacks"
    argv = ["reproduce", "--attacks", "targeted,small-edit", "--sentences", str(sentences), "--recognizer",
            "whisper-tiny.en", "--steps", "3", "--detectors", "likelihood,paper", "--seed", "1",
            "--run-dir", str(run_dir), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    # one item, attacked by both kinds: its clean stage ran once
    assert summary["n_items"] == 1 and summary["n_clean"] == 1 and summary["n_attacked"] == 2

    run = ExperimentRun.read(run_dir)
    assert run.config.attacks == ("targeted", "small-edit")
    rows = {r.attack_kind: r for r in run.rows}
    assert rows["targeted"].group == "en-US@28dB" and rows["small-edit"].group == "en-US@28dB+small-edit"
    assert rows["targeted"].attack.target == "he travels the fastest who travels alone"
    assert rows["small-edit"].attack.target == "it was the season of night"
    assert rows["targeted"].attack.audio["adversarial"] != rows["small-edit"].attack.audio["adversarial"]
    page = (run_dir / "report.html").read_text()
    assert page.count("<tr class='group'>") == 2 and "en-US@28dB+small-edit" in page


def test_unknown_attack_kind_is_a_one_line_error(tmp_path, capsys):
    assert main(["reproduce", "--attacks", "targeted,telepathy", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown attack 'telepathy'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
