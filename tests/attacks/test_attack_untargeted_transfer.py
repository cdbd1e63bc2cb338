"""Untargeted attack and the transfer check on real recognisers."""

from __future__ import annotations

import numpy as np

from synthcheck.attacks import UntargetedAttack, UntargetedAttackConfig, transfer_check
from synthcheck.audio.metrics import normalize_text, word_error_rate


def test_untargeted_moves_transcript_away_from_reference(tiny, best):
    config = UntargetedAttackConfig(max_steps=40, learning_rate=20.0, check_every=5, stop_db_x=-25.0)
    (result,) = UntargetedAttack(tiny, config).run([best], None, seed=0)
    assert normalize_text(result.target) == normalize_text(tiny.transcribe(best))  # clean transcript as reference
    assert result.success
    assert word_error_rate(result.target, result.transcript) > 0.5
    assert word_error_rate(result.target, tiny.transcribe(result.adversarial)) > 0.5
    assert result.first_success_step is not None and result.first_success_step % 5 == 0
    assert np.isfinite(result.db_x) and result.db_x < 0


def test_transfer_check_names_every_recogniser(hello):
    transcripts = transfer_check(hello, ("whisper-tiny.en", "pocketsphinx"))
    assert list(transcripts) == ["whisper-tiny.en", "pocketsphinx"]
    assert normalize_text(transcripts["whisper-tiny.en"]) == "hello world"
    assert "hello" in normalize_text(transcripts["pocketsphinx"]) or "world" in normalize_text(transcripts["pocketsphinx"])
