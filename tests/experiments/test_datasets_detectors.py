"""`reproduce` on recorded human speech with several detectors; old stores stay readable; hashes stay put."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from experiments.records import record
from synthcheck.cli import main
from synthcheck.detect import DETECTOR_CONFIGS
from synthcheck.errors import BadInputError
from synthcheck.experiments.config import ExperimentConfig, ItemSpec
from synthcheck.experiments.metrics import compute_metrics, detector_metrics, evaluation_from_scores
from synthcheck.experiments.sources import dataset_audio
from synthcheck.experiments.pipeline import ExperimentRun
from synthcheck.experiments.results import DetectorScore, ResultRow
from synthcheck.experiments.store import DB_NAME, ConfigMismatchError, ResultsStore
from synthcheck.report import REPORT_NAME, write_report

#: Hashes computed with the code *before* ``dataset`` and ``detectors`` existed (commit 3e0ac90). Such runs
#: judged with the template correlation that the ``paper`` detector no longer is, so they must not resume.
OLD_DEFAULT_HASH = "ecf4167424119d65"
OLD_QUICK_HASH = "64bce53566c37423"
#: Today's: stored runs resume only when the hash matches, so these must not change by accident.
DEFAULT_HASH = "01403917aa7819ad"
QUICK_HASH = "2552503df83a738f"
#: The config JSON and item schema such a run stored, and the hash that code gave this config.
OLD_CONFIG_HASH = "cd44cf7698fdc3bc"
OLD_CONFIG = {"attack_batch_size": 5, "attack_steps": 1000, "attack_stop_db_x": -45.0, "attenuation": 0.5,
              "comparator_mode": "paper", "recognizer": "whisper-base", "seed": 0,
              "sentences": ["it was the best of times", "it was the worst of times"], "snr_dbs": [28.0],
              "target": "he travels the fastest who travels alone", "threshold": 0.4, "tts_engine": "pico2wave",
              "voices": ["en-US"]}
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, sentence TEXT NOT NULL, voice TEXT NOT NULL,
    snr_db REAL NOT NULL, clean_attempts INTEGER NOT NULL DEFAULT 0, attack_attempts INTEGER NOT NULL DEFAULT 0,
    clean_json TEXT, attack_json TEXT, clean_done_at REAL, attack_done_at REAL);
"""


def test_default_and_quick_config_hashes_are_stable_and_differ_from_the_template_era():
    # the hashes of float32 runs, as stored before the precision option (runs stored then ran float32)
    assert ExperimentConfig(precision="fp32").config_hash() == DEFAULT_HASH
    assert ExperimentConfig.quick(precision="fp32").config_hash() == QUICK_HASH
    assert ExperimentConfig.from_dict(OLD_CONFIG | {"sentences": [], "precision": "fp32"}).config_hash() == DEFAULT_HASH
    assert ExperimentConfig(precision="bf16").config_hash() != DEFAULT_HASH  # another computation
    assert {DEFAULT_HASH, QUICK_HASH}.isdisjoint({OLD_DEFAULT_HASH, OLD_QUICK_HASH})
    # detectors always count; later fields count as soon as they leave their defaults
    assert ExperimentConfig(detectors=("paper", "dtw")).config_hash() != DEFAULT_HASH
    assert ExperimentConfig(detectors=("paper",)).config_hash() != DEFAULT_HASH
    assert ExperimentConfig(dataset="two-cities-human").config_hash() != DEFAULT_HASH


def test_threshold_defaults_to_the_primary_detectors_and_follows_it():
    assert ExperimentConfig().threshold == 0.4
    assert ExperimentConfig(detectors=("dtw", "paper")).threshold == pytest.approx(0.305)
    # "likelihood" is the judge independent of the recogniser: tiny.en for base, base for tiny.en
    assert ExperimentConfig(detectors=("likelihood",)).threshold == DETECTOR_CONFIGS["likelihood-tiny.en"].threshold
    assert ExperimentConfig.quick(detectors=["likelihood"]).threshold == DETECTOR_CONFIGS["likelihood-base"].threshold
    assert DETECTOR_CONFIGS["likelihood-tiny.en"].threshold != DETECTOR_CONFIGS["likelihood-base"].threshold
    assert ExperimentConfig().with_overrides(detectors=("dtw",)).threshold == pytest.approx(0.305)
    assert ExperimentConfig(threshold=0.3).with_overrides(detectors=("dtw",)).threshold == 0.3  # explicit: kept
    assert ExperimentConfig(detectors=("dtw",), threshold=0.5).threshold == 0.5


def test_recorded_sets_supply_their_own_texts():
    human = ExperimentConfig(dataset="two-cities-human")
    paper = ExperimentConfig()
    assert len(human.sentences) == 10 and human.sentences[0] == "It was the best of times"  # the set's own text
    assert [s.lower() for s in human.sentences] == list(paper.sentences)
    assert human.items()[0].key == "two-cities-human:en-US@28dB/s00" and human.items()[0].dataset == "two-cities-human"
    assert ExperimentConfig(dataset="two-cities-human", sentences=("IT WAS THE AGE OF WISDOM.",)).sentences == (
        "it was the age of wisdom",)
    assert ExperimentConfig.quick(dataset="alsa-human").sentences == ("front center", "front left", "front right")


@pytest.mark.parametrize(
    "values, message",
    [({"dataset": "librispeech"}, "unknown dataset"), ({"detectors": ["paper", "xcorr"]}, "unknown detector"),
     ({"detectors": []}, "at least one detector"),
     ({"detectors": ["likelihood", "likelihood-tiny.en"]}, "twice"),  # the same judge for whisper-base
     ({"dataset": "alsa-human", "sentences": ["it was the best of times"]}, "not an utterance"),
     ({"comparator_mode": "median"}, "comparator_mode")],
)
def test_bad_dataset_or_detector_settings_are_one_line_errors(values, message):
    with pytest.raises(BadInputError, match=message) as info:
        ExperimentConfig.from_dict(values)
    assert "\n" not in str(info.value)


def with_detectors(base: ResultRow, dtw_clean: float, dtw_adv: float, dataset: str) -> ResultRow:
    """``base`` (paper scores only) with dtw scores added, as an item of ``dataset``."""
    def add(result, dtw: float):  # type: ignore[no-untyped-def]
        dtw_score = DetectorScore(score=dtw, threshold=0.3, consistent=dtw >= 0.3)
        return replace(result, detectors={**result.detectors, "dtw": dtw_score})

    spec = ItemSpec(f"{dataset}/{base.spec.key}", base.spec.index, base.spec.sentence, "en-US", 28.0, dataset)
    return replace(base, spec=spec, clean=add(base.clean, dtw_clean), attack=add(base.attack, dtw_adv))


def test_detector_metrics_per_configuration_and_per_dataset():
    records = [with_detectors(record(0, 0.9, 0.1), 0.8, 0.5, "tts"),
               with_detectors(record(1, 0.7, 0.2), 0.6, 0.2, "tts"),
               with_detectors(record(2, 0.35, 0.5, success=False), 0.5, 0.1, "alsa-human"),
               with_detectors(record(3, 0.8, 0.3), 0.2, 0.25, "alsa-human")]
    rows = detector_metrics(records, ("paper", "dtw"))
    assert [(m.detector, m.dataset) for m in rows] == [
        ("paper", "all"), ("dtw", "all"), ("paper", "tts"), ("dtw", "tts"), ("paper", "alsa-human"),
        ("dtw", "alsa-human")]
    paper, dtw = rows[0], rows[1]
    assert paper.calibrated.auc == pytest.approx(compute_metrics(records, 0.4).auc) == 1.0
    assert (paper.calibrated.n_clean, paper.calibrated.n_attacked) == (4, 3)  # the failed attack is not a positive
    assert paper.false_positive_rate == 0.25 and paper.detection_rate == 1.0
    # dtw: positives 0.5, 0.2, 0.25 vs negatives 0.8, 0.6, 0.5, 0.2 (lower wins, ties half): 2.5 + 3.5 + 3 of 12
    assert dtw.calibrated.auc == pytest.approx(9 / 12) and dtw.threshold == 0.3
    assert dtw.detection_rate == pytest.approx(2 / 3) and dtw.false_positive_rate == 0.25
    # calibrated at 5 % on four clean scores: floor(0.2) = 0 flagged allowed -> the lowest clean score
    assert dtw.calibrated.threshold == 0.2 and dtw.calibrated.fpr == 0.0 and dtw.calibrated.target_fpr == 0.05
    assert dtw.calibrated.detection_rate == 0.0  # no adversarial dtw score is below 0.2
    # the calibrated numbers are exactly the detector evaluation of the same scores
    assert dtw.calibrated == evaluation_from_scores([0.8, 0.6, 0.5, 0.2], [0.5, 0.2, 0.25], config="dtw",
                                                    source="all", proxy=False, latency_per_second=math.nan)
    alsa_dtw = rows[5]  # clean 0.5, 0.2; the one successful attack 0.25
    calibrated = alsa_dtw.calibrated
    assert (calibrated.n_clean, calibrated.n_attacked, calibrated.detection_rate) == (2, 1, 0.0)
    assert math.isnan(rows[4].calibrated.fpr_loo) is False and calibrated.auc == 0.5
    row = alsa_dtw.to_dict()
    assert (row["detector"], row["dataset"], row["threshold"]) == ("dtw", "alsa-human", 0.3)
    assert row["calibrated"]["attacked_scores"] == [0.25] and row["calibrated"]["latency_per_second"] is None


def old_store(run_dir, clean_score: float = 0.9) -> None:
    """A results store exactly as the code before datasets and detectors wrote it (two finished items)."""
    run_dir.mkdir()
    with sqlite3.connect(run_dir / DB_NAME) as conn:
        conn.executescript(OLD_SCHEMA)
        meta = {"config": json.dumps(OLD_CONFIG, sort_keys=True),
                "config_hash": OLD_CONFIG_HASH,
                "versions": json.dumps({"python": "3.11"}), "created_at": "0", "wall_seconds": "12.0"}
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        for i, sentence in enumerate(OLD_CONFIG["sentences"]):
            clean = {"transcript": sentence, "score": clean_score, "threshold": 0.4, "consistent": True, "wer": 0.0,
                     "audio": {}}
            attack = {"transcript": "he travels the fastest who travels alone", "score": 0.1, "threshold": 0.4,
                      "consistent": False, "success": True, "wer_target": 0.0, "wer_source": 1.0, "db_x": -40.0,
                      "snr_db": 33.0, "audio": {}}
            conn.execute("INSERT INTO items (key, idx, sentence, voice, snr_db, clean_json, attack_json, clean_done_at,"
                         " attack_done_at) VALUES (?, ?, ?, 'en-US', 28.0, ?, ?, 1.0, 2.0)",
                         (f"en-US@28dB/s{i:02d}", i, sentence, json.dumps(clean), json.dumps(attack)))


def test_an_old_store_loads_and_reports_under_its_measure_but_does_not_resume(tmp_path, capsys):
    run_dir = tmp_path / "old"
    old_store(run_dir)
    with ResultsStore.read(run_dir) as store:
        config = store.config()
        # before detectors existed, the one check was the template correlation
        assert (config.dataset, config.detectors, config.threshold) == ("tts", ("xcorr-template",), 0.4)
        assert all(r.spec.dataset == "tts" and r.clean and list(r.attacks) == ["targeted"] for r in store.records())
        assert store.meta("schema_version") == "2"  # migrated from schema 1 on opening
    assert main(["report", str(run_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "tts" and summary["detection_rate"] == 1.0
    (template,) = summary["detectors"]
    assert set(template) == {"detector", "dataset", "attack_kind", "threshold", "detection_rate", "false_positive_rate",
                             "calibrated",
                             "n_clean_exact", "flagged_exact", "n_clean_misrecognized", "flagged_misrecognized"}
    assert (template["n_clean_exact"], template["flagged_exact"], template["flagged_misrecognized"]) == (2, 0, 0)
    assert (template["detector"], template["dataset"], template["threshold"]) == ("xcorr-template", "all", 0.4)
    assert (template["detection_rate"], template["false_positive_rate"]) == (1.0, 0.0)
    # the calibrated evaluation without its score lists: clean 0.9, 0.9 -> threshold 0.9, both attacks flagged
    assert template["calibrated"] == {"config": "xcorr-template", "source": "all", "proxy": False, "n_clean": 2,
                                      "n_attacked": 2, "auc": 1.0, "threshold": 0.9, "target_fpr": 0.05, "fpr": 0.0,
                                      "fpr_loo": 0.0, "detection_rate": 1.0, "latency_per_second": None, "stage": ""}
    page = (run_dir / REPORT_NAME).read_text()
    assert page.count("<tr class='detector'") == 1 and "xcorr-template 0.900" in page
    # today's config with the old settings means another measure: refused, with what to do
    with pytest.raises(ConfigMismatchError, match="--new"):
        ResultsStore.open(run_dir, ExperimentConfig.from_dict(OLD_CONFIG), {})
    write_report(ExperimentRun.read(run_dir))


def test_quick_run_on_human_speech_stores_every_detectors_scores(tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("it was the best of times\nit was the worst of times\n")
    run_dir = tmp_path / "human"
    argv = ["reproduce", "--quick", "--steps", "3", "--dataset", "two-cities-human", "--detectors", "paper,dtw",
            "--sentences", str(sentences), "--seed", "2", "--run-dir", str(run_dir), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "two-cities-human" and summary["n_clean"] == 2 and summary["n_attacked"] == 2
    assert [(d["detector"], d["threshold"]) for d in summary["detectors"]] == [("paper", 0.4), ("dtw", 0.305)]

    with ResultsStore.read(run_dir) as store:
        config, records = store.config(), store.records()
        assert config.dataset == "two-cities-human" and config.detectors == ("paper", "dtw")
        recordings = dataset_audio("two-cities-human")
        for r in records:
            assert r.spec.dataset == "two-cities-human" and r.spec.sentence in recordings  # the set's own text
            # the source x is the recording itself (16-bit), not a TTS rendering
            x = store.read_array(r.clean.audio["clean"])
            np.testing.assert_allclose(x, recordings[r.spec.sentence], atol=1 / 32768 + 1e-7)
            for stage in (r.clean, r.attacks["targeted"]):
                assert list(stage.detectors) == ["paper", "dtw"]  # the configured order, primary first
                paper, dtw = stage.detectors["paper"], stage.detectors["dtw"]
                assert paper == stage.primary and paper.consistent == (paper.score >= 0.4)
                assert 0.0 <= dtw.score <= 1.0 and dtw.consistent == (dtw.score >= 0.305)
                assert dtw.config == "dtw"
    # Whisper tiny.en hears the LibriVox reading: WER against the true transcript is low
    assert min(r.clean.wer for r in records) < 0.5
    page = (run_dir / REPORT_NAME).read_text()
    assert re.findall(r"<tr class='detector' data-detector='(\w+)'>", page) == ["paper", "dtw"]
    assert "two-cities-human" in re.search(r"id='summary'>(.*?)</section>", page, re.S).group(1)
