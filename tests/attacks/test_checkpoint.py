"""Attack checkpoints (:mod:`synthcheck.attacks.checkpoint`): a resumed attack equals an uninterrupted one.

Real Whisper tiny.en and real pico2wave speech; the interruption is an exception from the progress callback
(the real SIGKILL of a whole run is in tests/experiments/test_attack_checkpoint.py). Write faults are
injected at ``os.fsync`` of the atomic write.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from synthcheck.attacks import Attack, AttackConfig, TargetText, WordErrorAbove
from synthcheck.attacks.checkpoint import AttackCheckpoint
from synthcheck.errors import BadInputError, StorageError

TARGET = "open the door"
STEPS = 3


class _Killed(Exception):
    """Stands for a kill right after a step's checkpoint was written."""


def _kill_at(step: int):
    def progress(p):
        if p.step == step:
            raise _Killed
    return progress


def _attack(tiny, **overrides) -> Attack:
    settings = {"max_steps": STEPS, "learning_rate": 60.0, "init_noise": 8.0, "seed": 7, **overrides}
    return Attack(tiny, AttackConfig(**settings))


def _fields(result) -> dict:
    """Everything of an AttackResult except the wall time."""
    out = result.to_dict()
    out.pop("seconds")
    return out


@pytest.fixture(scope="module")
def uninterrupted(tiny, hello, best):
    return _attack(tiny).run([hello, best], TargetText(TARGET))


def test_resumed_attack_is_bit_identical_to_an_uninterrupted_one(tiny, hello, best, uninterrupted, tmp_path):
    checkpoint = AttackCheckpoint(tmp_path / "batch.pt", every_seconds=0)
    with pytest.raises(_Killed):
        _attack(tiny).run([hello, best], TargetText(TARGET), checkpoint=checkpoint, progress=_kill_at(2))
    stored = torch.load(checkpoint.path, weights_only=True)
    assert stored["state"]["steps"] == 2 and len(stored["state"]["loss_curves"][0]) == 2

    seen: list[int] = []
    resumed = _attack(tiny).run([hello, best], TargetText(TARGET), checkpoint=AttackCheckpoint(checkpoint.path, 0),
                                progress=lambda p: seen.append(p.step))
    assert seen == [3], "the resumed run must continue after the checkpointed step, not start over"
    for a, b in zip(uninterrupted, resumed):
        assert np.array_equal(a.adversarial, b.adversarial)
        assert _fields(a) == _fields(b)
    assert torch.load(checkpoint.path, weights_only=True)["state"]["steps"] == STEPS  # saved when the loop ended
    assert not list(tmp_path.glob("*.tmp"))


def test_a_checkpoint_of_another_seed_setting_or_criterion_is_not_resumed(tiny, hello, tmp_path):
    path = tmp_path / "batch.pt"
    _attack(tiny, max_steps=1, seed=1).run([hello], TargetText(TARGET), checkpoint=AttackCheckpoint(path, 0))
    for changed, criterion in (({"seed": 2}, TargetText(TARGET)), ({"learning_rate": 30.0}, TargetText(TARGET)),
                               ({}, WordErrorAbove(TARGET, threshold=0.9))):
        seen: list[int] = []
        _attack(tiny, **{"max_steps": 1, "seed": 1, **changed}).run(
            [hello], criterion, checkpoint=AttackCheckpoint(path, 0), progress=lambda p: seen.append(p.step)
        )
        assert seen == [1], f"a stale checkpoint was resumed for {changed or criterion.to_dict()}"


def test_checkpoint_file_round_trip_and_unreadable_files(tmp_path):
    checkpoint = AttackCheckpoint(tmp_path / "sub" / "c.pt", every_seconds=3600)
    assert checkpoint.load("k") is None and not checkpoint.due()
    state = {"deltas": torch.arange(6.0).reshape(2, 3), "first_success": [None, 4], "elapsed": 1.5}
    checkpoint.save("k", state)
    loaded = checkpoint.load("k")
    assert torch.equal(loaded["deltas"], state["deltas"]) and loaded["first_success"] == [None, 4]
    assert checkpoint.load("other") is None
    checkpoint.path.write_bytes(b"not a checkpoint")
    assert checkpoint.load("k") is None
    checkpoint.delete()
    checkpoint.delete()  # deleting twice is fine
    assert not checkpoint.path.exists()
    assert AttackCheckpoint(tmp_path / "c.pt", every_seconds=0).due()
    with pytest.raises(BadInputError, match=">= 0"):
        AttackCheckpoint(tmp_path / "c.pt", every_seconds=-1)


@pytest.mark.parametrize(
    ("error", "message"),
    [(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device; free space and rerun to resume"),
     (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "Permission denied; make it writable")],
)
def test_a_failed_checkpoint_write_is_one_clear_error_and_keeps_the_previous_one(tmp_path, monkeypatch, error, message):
    checkpoint = AttackCheckpoint(tmp_path / "c.pt", every_seconds=0)
    checkpoint.save("k", {"steps": 3})

    def failing_fsync(fd):
        raise error

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageError) as info:
        checkpoint.save("k", {"steps": 4})
    monkeypatch.undo()
    text = str(info.value)
    assert text.startswith(f"could not write {checkpoint.path}: ") and message in text and "\n" not in text
    assert checkpoint.load("k") == {"steps": 3}
    assert not list(tmp_path.glob(".*.tmp")), "the failed write left its temp file"
