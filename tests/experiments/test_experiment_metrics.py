"""ROC/AUC and the experiment's summary numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.records import record
from synthcheck.experiments.metrics import auc, compute_metrics, roc_curve
from synthcheck.experiments.sweep import group_metrics, parse_float_list, parse_list
from synthcheck.errors import BadInputError


def pairwise_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney estimate: P(pos > neg) + 0.5 P(pos == neg), by brute force."""
    diff = pos[:, None] - neg[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def test_roc_of_a_small_hand_worked_case():
    labels = np.array([1, 0, 1, 0, 0], bool)
    decision = np.array([0.9, 0.8, 0.7, 0.3, 0.1])
    fpr, tpr, thresholds = roc_curve(labels, decision)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1, 1])
    assert thresholds[0] == np.inf and thresholds[-1] == 0.1
    assert auc(fpr, tpr) == pytest.approx(5 / 6)


def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    pos = np.round(rng.normal(1.0, 1.0, 40), 1)  # rounding makes ties
    neg = np.round(rng.normal(0.0, 1.0, 55), 1)
    fpr, tpr, _ = roc_curve(np.r_[np.ones(40, bool), np.zeros(55, bool)], np.r_[pos, neg])
    assert auc(fpr, tpr) == pytest.approx(pairwise_auc(pos, neg), abs=1e-12)


def test_roc_is_empty_without_both_classes():
    fpr, tpr, _ = roc_curve(np.ones(3, bool), np.arange(3.0))
    assert fpr.size == 0 and math.isnan(auc(fpr, tpr))


def test_experiment_metrics_rank_low_scores_as_adversarial():
    records = [
        record(0, 0.95, 0.10, snr_db=30.0, db_x=-40.0),
        record(1, 0.90, 0.20, snr_db=34.0, db_x=-44.0),
        record(2, 0.30, 0.35, wer=0.5, snr_db=32.0),  # misrecognised clean item: low score, flagged
        record(3, 0.85, 0.60, success=False, snr_db=99.0),  # failed attack: not a positive
    ]
    m = compute_metrics(records, threshold=0.4)
    assert (m.n_items, m.n_attacked, m.n_attack_success) == (4, 4, 3)
    assert m.attack_success_rate == pytest.approx(0.75)
    assert m.detection_rate == 1.0  # the three successful ones are all below 0.4
    assert m.detection_rate_all_attacks == pytest.approx(0.75)
    assert m.false_positive_rate == pytest.approx(0.25)
    assert (m.n_clean_recognized, m.n_clean_misrecognized) == (3, 1)
    assert (m.false_positives_recognized, m.false_positives_misrecognized) == (0, 1)
    assert m.median_snr_db == pytest.approx(32.0) and m.median_db_x == pytest.approx(-40.0)
    # positives 0.10, 0.20, 0.35 vs negatives 0.95, 0.90, 0.30, 0.85: only 0.35 > 0.30 is misordered
    assert m.auc == pytest.approx(11 / 12)
    assert m.to_dict()["auc"] == pytest.approx(11 / 12)


def test_metrics_of_unfinished_runs_are_undefined_not_wrong():
    m = compute_metrics([record(0, 0.9), record(1, None)], threshold=0.4)
    assert m.n_clean == 1 and m.n_attacked == 0
    assert math.isnan(m.detection_rate) and math.isnan(m.auc) and math.isnan(m.median_snr_db)
    assert m.to_dict()["detection_rate"] is None


def test_group_metrics_split_by_voice_and_snr():
    records = [record(i, 0.9, 0.1, snr=snr, voice=voice) for voice in ("en-US", "en-GB") for snr in (20, 28)
               for i in range(2)]
    groups = group_metrics(records, threshold=0.4)
    assert list(groups) == ["en-US@20dB", "en-US@28dB", "en-GB@20dB", "en-GB@28dB"]
    assert all(m.n_items == 2 and m.detection_rate == 1.0 for m in groups.values())


def test_sweep_lists_are_parsed_strictly():
    assert parse_float_list("20, 28,40", name="snr") == (20.0, 28.0, 40.0)
    assert parse_list("en-US,en-GB", name="voice") == ("en-US", "en-GB")
    for bad in ("20,,28", "20,abc", "20,20"):
        with pytest.raises(BadInputError, match="--snr"):
            parse_float_list(bad, name="snr")


def test_detector_rows_split_clean_flags_into_exact_and_misrecognised_transcripts():
    from synthcheck.experiments.metrics import detector_metrics

    records = [record(0, 0.9, 0.1), record(1, 0.3, 0.2),  # exact transcripts: one flagged (a true false positive)
               record(2, 0.2, 0.1, wer=0.5), record(3, 0.35, 0.5, wer=0.2), record(4, 0.7, None, wer=0.1)]
    (row,) = detector_metrics(records, ["paper"])
    assert (row.n_clean_exact, row.flagged_exact) == (2, 1)
    assert (row.n_clean_misrecognized, row.flagged_misrecognized) == (3, 2)  # recognition errors detected
    assert row.exact_flag_rate == 0.5 and row.misrecognized_flag_rate == pytest.approx(2 / 3)
    assert row.false_positive_rate == pytest.approx(3 / 5) and row.detection_rate == 0.75
    data = row.to_dict()
    assert (data["n_clean_exact"], data["flagged_exact"], data["flagged_misrecognized"]) == (2, 1, 2)
