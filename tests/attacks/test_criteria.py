"""Criterion objects and the batch padding helper, with the real Whisper tiny.en and real pico2wave speech."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.attacks import AttackBatch, TargetText, WordErrorAbove, pad_batch
from synthcheck.errors import BadInputError


def test_target_text_on_the_clean_transcript_is_met_another_is_not(tiny, hello):
    clean = tiny.transcribe(hello)
    criterion = TargetText([clean, "open the door"])
    labels = criterion.labels(tiny, [hello, hello])
    met, transcripts = criterion.decide(tiny, [hello, hello], labels)
    assert met.tolist() == [True, False] and transcripts == [clean, clean]
    assert criterion.is_met(["Hello, World!"], ["hello world"]).tolist() == [True]  # compared after normalize_text
    # the per-step mask comes from the teacher-forced forward pass and agrees, without a decode
    padded, lengths, mask = pad_batch([hello, hello])
    loss, success = criterion.objective(tiny, AttackBatch(padded, mask, lengths, labels))
    assert success.tolist() == [True, False]
    loss = loss.detach()
    assert loss.shape == (2,) and float(loss[0]) < float(loss[1])  # its own transcript is the likelier text


def test_word_error_above_defaults_to_the_clean_transcript_and_maximises_its_loss(tiny, hello):
    criterion = WordErrorAbove()
    (reference,) = criterion.labels(tiny, [hello])
    assert reference == tiny.transcribe(hello).strip()
    met, _ = criterion.decide(tiny, [hello], [reference])
    assert met.tolist() == [False]  # the clean audio says its own reference
    assert criterion.is_met(["open the door"], ["hello world"]).tolist() == [True]
    # WER("hello world", "open the door") = (2 substitutions + 1 insertion) / 2 = 1.5
    assert [WordErrorAbove(threshold=t).is_met(["open the door"], ["hello world"])[0] for t in (1.49, 1.5)] == [True, False]
    padded, lengths, mask = pad_batch([hello])
    loss, success = criterion.objective(tiny, AttackBatch(padded, mask, lengths, [reference]))
    assert success is None  # success needs a decode
    assert float(loss[0].detach()) == pytest.approx(-float(tiny.loss(padded, [reference])[0].detach()), rel=1e-6)
    assert criterion.to_dict() == {"criterion": "WordErrorAbove", "wer_threshold": 0.5}


def test_one_text_serves_every_input_and_counts_must_match(tiny, hello, best):
    assert TargetText(" open the door ").labels(tiny, [hello, best]) == ["open the door", "open the door"]
    with pytest.raises(BadInputError, match="got 2 utterances but 3 target texts"):
        TargetText(["a", "b", "c"]).labels(tiny, [hello, best])


def test_pad_batch_pads_with_zeros_and_masks_the_padding():
    a = np.array([0.5, -0.25, 0.125], dtype=np.float32)
    b = np.array([1.0], dtype=np.float64)
    batch, lengths, mask = pad_batch([a, b])
    assert lengths == [3, 1] and batch.dtype == torch.float32 and mask.dtype == torch.float32
    assert batch.tolist() == [[0.5, -0.25, 0.125], [1.0, 0.0, 0.0]]
    assert mask.tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
