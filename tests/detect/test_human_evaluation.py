"""Evaluation of detector configurations (experiments/detector_evaluation.py) on the real alsa-utils recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.channel import paper_channel
from synthcheck.data.datasets import load_dataset
from synthcheck.errors import BadInputError
from synthcheck.detect import DetectorConfig
from synthcheck.experiments.detector_evaluation import (
    EvalRecord,
    evaluate_configs,
    evaluation_audio,
    evaluation_from_scores,
    human_speech_evaluation,
    standard_configs,
    wrong_transcript_records,
)
from synthcheck.experiments.metrics import leave_one_out_fpr
from synthcheck.report.detector_tables import evaluation_table, markdown


@pytest.fixture(scope="module")
def alsa_records() -> list[EvalRecord]:
    utterances = load_dataset("alsa-human")
    texts = [u.text for u in utterances]
    # the recordings' own texts stand in for a perfect recogniser: no ASR cost in this test
    return wrong_transcript_records(
        [u.key for u in utterances], [u.audio for u in utterances], texts, texts, np.random.default_rng(3)
    )


def test_proxy_records_pair_each_clip_with_another_transcript(alsa_records: list[EvalRecord]) -> None:
    assert len(alsa_records) == 8
    for record in alsa_records:
        assert record.proxy and record.correctly_transcribed
        assert record.adversarial_transcript != record.transcript
        assert record.adversarial_audio is record.audio
    again = wrong_transcript_records(
        [r.key for r in alsa_records], [r.audio for r in alsa_records], [r.text for r in alsa_records],
        [r.text for r in alsa_records], np.random.default_rng(3),
    )
    assert [r.adversarial_transcript for r in again] == [r.adversarial_transcript for r in alsa_records]


def test_evaluation_hears_tts_through_the_papers_channel_and_human_speech_unchanged() -> None:
    tts = [u.audio for u in load_dataset("two-cities-tts")[:2]]
    heard = evaluation_audio("two-cities-tts", tts, np.random.default_rng(5))
    rng = np.random.default_rng(5)  # one generator, drawn from clip by clip
    for clip, expected in zip(heard, [paper_channel().apply(a, rng) for a in tts]):
        np.testing.assert_array_equal(clip, expected)
    assert not np.array_equal(heard[0], tts[0])
    human = [u.audio for u in load_dataset("alsa-human")[:2]]
    assert all(a is b for a, b in zip(evaluation_audio("alsa-human", human, np.random.default_rng(5)), human))


def mann_whitney_auc(clean: np.ndarray, attacked: np.ndarray) -> float:
    """P(attacked score < clean score) + P(tie) / 2 over all pairs: the AUC of flagging low scores."""
    below = (attacked[:, None] < clean[None, :]).sum()
    ties = (attacked[:, None] == clean[None, :]).sum()
    return float((below + 0.5 * ties) / (attacked.size * clean.size))


def test_leave_one_out_fpr_is_honest() -> None:
    assert leave_one_out_fpr([0.1, 0.5, 0.6, 0.7], target_fpr=0.0) == pytest.approx(0.25)
    assert np.isnan(leave_one_out_fpr([0.5], target_fpr=0.05))


def test_evaluates_configurations_on_human_speech(alsa_records: list[EvalRecord]) -> None:
    configs = [c for c in standard_configs() if c.name in ("paper", "dtw")]
    ticks = []
    results = evaluate_configs(
        get_recognizer("pocketsphinx"), configs, {"alsa-human": alsa_records}, progress=lambda: ticks.append(1)
    )
    assert [r.config for r in results] == ["paper", "dtw"]
    assert len(ticks) == 2 * 16
    recognizer = get_recognizer("pocketsphinx")
    for config, result in zip(configs, results):
        assert (result.n_clean, result.n_attacked) == (8, 8) and result.proxy
        # the scores are the detector's on the records (clean: own transcript; attacked: the other clip's)
        detector = config.build(recognizer)
        first = alsa_records[0]
        assert result.clean_scores[0] == detector.check_transcript(first.audio, first.transcript).score
        assert result.attacked_scores[0] == detector.check_transcript(first.audio, first.adversarial_transcript).score
        clean, attacked = np.array(result.clean_scores), np.array(result.attacked_scores)
        # every number recomputed from the scores, independently of synthcheck's metric code
        assert result.threshold == np.sort(clean)[0]  # 8 clean items, 5 % target: floor(0.4) = 0 may be flagged
        assert result.fpr == 0.0
        assert result.detection_rate == np.mean(attacked < result.threshold)
        assert result.auc == pytest.approx(mann_whitney_auc(clean, attacked))
        loo = np.mean([clean[i] < np.delete(clean, i).min() for i in range(clean.size)])
        assert result.fpr_loo == pytest.approx(loo)
        assert result.latency_per_second > 0.0
        json.dumps(result.to_dict())
    table = markdown(evaluation_table(results))
    assert table.count("\n") == 3 and "alsa-human (proxy)" in table


def test_standard_configurations_are_the_registry_with_the_independent_likelihood() -> None:
    common = {"paper", "seed-corrcoef", "seed-xcorrelation", "seed-stretched", "xcorr-template", "xcorr-full", "dtw",
              "voices-xcorr", "voices-dtw", "align", "likelihood+voices-dtw", "likelihood+align"}
    common |= {"smoothed-likelihood+align"}
    assert {c.name for c in standard_configs()} == common | {"likelihood-tiny.en", "smoothed-likelihood-tiny.en"}
    assert {c.name for c in standard_configs("whisper-tiny.en")} == common | {"likelihood-base", "smoothed-likelihood-base"}
    assert all(isinstance(c, DetectorConfig) and c.description for c in standard_configs())
    with pytest.raises(BadInputError, match="unknown detector 'nonsense'"):
        human_speech_evaluation(configs=["nonsense"])


def test_clean_only_records_add_calibration_items_without_positives(alsa_records: list[EvalRecord]) -> None:
    clean_only = [
        EvalRecord(r.key, r.audio, r.text, r.transcript, None, "", proxy=False) for r in alsa_records[:3]
    ]
    config = next(c for c in standard_configs() if c.name == "paper")
    (result,) = evaluate_configs(get_recognizer("pocketsphinx"), [config], {"alsa": clean_only + alsa_records[3:5]})
    assert (result.n_clean, result.n_attacked) == (5, 2)


def test_evaluation_from_scores_without_attacks_has_undefined_auc() -> None:
    result = evaluation_from_scores([0.5, 0.6, 0.9], [], config="x", source="s", proxy=False, latency_per_second=0.1)
    assert np.isnan(result.auc) and np.isnan(result.detection_rate)
    assert result.threshold == pytest.approx(0.5) and result.fpr == 0.0
    both = evaluation_from_scores([0.5, 0.6, 0.9], [0.1, 0.7], config="x", source="s", proxy=False, latency_per_second=0.1)
    assert both.auc == pytest.approx(4 / 6) and both.detection_rate == pytest.approx(0.5)
