"""Untargeted attack (WordErrorAbove criterion) and the transfer check on real recognisers."""

from __future__ import annotations

import numpy as np

from synthcheck.attacks import Attack, AttackConfig, WordErrorAbove, transfer_check
from synthcheck.audio.metrics import normalize_text, word_error_rate


def test_untargeted_moves_transcript_away_from_reference(tiny, best):
    config = AttackConfig(max_steps=40, learning_rate=20.0, check_every=5, stop_db_x=-25.0, seed=0)
    (result,) = Attack(tiny, config).run([best], WordErrorAbove())
    assert result.kind == "untargeted" and result.config["wer_threshold"] == 0.5
    assert normalize_text(result.target) == normalize_text(tiny.transcribe(best))  # clean transcript as reference
    assert result.success
    assert word_error_rate(result.target, result.transcript) > 0.5
    assert word_error_rate(result.target, tiny.transcribe(result.adversarial)) > 0.5
    assert result.first_success_step is not None and result.first_success_step % 5 == 0
    assert np.isfinite(result.db_x) and result.db_x < 0


def test_untargeted_checks_every_ten_steps_unless_configured(tiny, best):
    """WordErrorAbove's own decode interval (10) applies when the config leaves check_every unset."""
    assert WordErrorAbove.check_every == 10
    (result,) = Attack(tiny, AttackConfig(max_steps=9, learning_rate=200.0, seed=0)).run([best], WordErrorAbove(threshold=0.0))
    assert result.first_success_step is None  # no decode ran in 9 steps, however far the transcript moved
    (checked,) = Attack(tiny, AttackConfig(max_steps=1, seed=0, check_every=1)).run(
        [best], WordErrorAbove("a reference nothing like the speech", threshold=0.0)
    )
    assert checked.first_success_step == 1  # checked at step 1: any transcript has WER > 0 against it


def test_transfer_check_names_every_recogniser(hello):
    transcripts = transfer_check(hello, ("whisper-tiny.en", "pocketsphinx"))
    assert list(transcripts) == ["whisper-tiny.en", "pocketsphinx"]
    assert normalize_text(transcripts["whisper-tiny.en"]) == "hello world"
    assert "hello" in normalize_text(transcripts["pocketsphinx"]) or "world" in normalize_text(transcripts["pocketsphinx"])
