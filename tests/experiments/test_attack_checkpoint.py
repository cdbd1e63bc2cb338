"""The attack stage resumes from its checkpoint after a real SIGKILL, refuses a second writer, and survives
failed writes (disk full, read-only) with a consistent, resumable store.

Real components throughout (pico2wave, Whisper tiny.en, SQLite, ``synthcheck reproduce`` processes). Faults are
injected at the write functions: ``os.fsync`` of the atomic audio write raises ENOSPC / EACCES; the attack
commit's ``COMMIT`` fails with SQLITE_FULL, or its connection is made read-only (``query_only``: a real
SQLITE_READONLY). Every rerun must end with exactly the numbers and audio of an uninterrupted run.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from experiments.records import stored_rows

from synthcheck.errors import StorageError
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.lock import LOCK_NAME, RunLock
from synthcheck.experiments.pipeline import run_experiment
from synthcheck.experiments.store import AUDIO_DIR, CHECKPOINT_DIR, DB_NAME, ResultsStore

SENTENCES = ("it was the age of wisdom", "it was the season of light")
STEPS = 4
#: Fields that measure time, not results.
_TIMING = {"seconds", "compute_seconds", "compare_seconds", "timings"}


def _config() -> ExperimentConfig:
    return ExperimentConfig.quick(sentences=list(SENTENCES), attack_steps=STEPS, detectors=["paper"])


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _TIMING}
    return value


def _stored(run_dir: Path) -> dict:
    """Every item's results without timings, and its adversarial samples."""
    with ResultsStore.read(run_dir) as store:
        out = {}
        for record in stored_rows(store):
            assert record.clean and record.attack, f"{record.spec.key} is not finished"
            adversarial = store.read_array(record.attack["audio"]["adversarial"])
            out[record.spec.key] = (_strip(record.clean), _strip(record.attack), adversarial)
        return out


def _assert_same(run_dir: Path, reference: dict) -> None:
    stored = _stored(run_dir)
    assert stored.keys() == reference.keys()
    for key, (clean, attack, adversarial) in stored.items():
        ref_clean, ref_attack, ref_adversarial = reference[key]
        assert clean == ref_clean and attack == ref_attack, key
        assert np.array_equal(adversarial, ref_adversarial), key


def _rows(run_dir: Path) -> dict[str, tuple]:
    """key -> (attack_done_at, attack_attempts), on a fresh connection."""
    with sqlite3.connect(run_dir / DB_NAME) as conn:
        return {k: (done, attempts) for k, done, attempts in
                conn.execute("SELECT key, done_at, attempts FROM stages WHERE stage = 'targeted'")}


def _assert_consistent(run_dir: Path) -> None:
    """SQLite's integrity check passes, every referenced file exists, no temp file is left."""
    with sqlite3.connect(run_dir / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ResultsStore.read(run_dir) as store:
        for record in stored_rows(store):
            for stage in (record.clean, record.attack):
                for rel in (stage or {}).get("audio", {}).values():
                    assert store.file_path(rel).is_file(), rel
    assert not list(run_dir.rglob("*.tmp")), "a partial file was left behind"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """An uninterrupted run without checkpoints."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    run_experiment(_config(), run_dir, checkpoint_seconds=None)
    assert not (run_dir / CHECKPOINT_DIR).exists()
    return _stored(run_dir)


def _cli(run_dir: Path, sentences: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "synthcheck"), "-v", "reproduce", "--quick", "--sentences",
            str(sentences), "--steps", str(STEPS), "--detectors", "paper", "--run-dir", str(run_dir),
            "--checkpoint-every", "0", "--json"]


def _checkpoint_step(run_dir: Path) -> int:
    """The step of the newest checkpoint on disk (0 if none)."""
    steps = [0]
    for path in (run_dir / CHECKPOINT_DIR).glob("*.pt"):
        try:
            steps.append(torch.load(path, weights_only=True)["state"]["steps"])
        except (OSError, RuntimeError, EOFError):  # replaced or deleted while reading
            continue
    return max(steps)


def test_sigkilled_attack_resumes_from_its_checkpoint_and_a_second_writer_is_refused(tmp_path, reference):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(SENTENCES) + "\n")
    run_dir = tmp_path / "run"
    log = tmp_path / "first.log"
    with log.open("wb") as err:
        first = subprocess.Popen(_cli(run_dir, sentences), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 600
        lock = run_dir / LOCK_NAME
        while f'"pid": {first.pid}' not in (lock.read_text() if lock.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        second = subprocess.run(_cli(run_dir, sentences), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        message = second.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert f"run directory {run_dir} is in use by pid {first.pid} on " in message and "another --run-dir" in message

        while (step := _checkpoint_step(run_dir)) < 2:
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL
        first.wait()
    assert step < STEPS, "the kill came too late to test a resume"
    assert all(done is None and attempts == 1 for done, attempts in _rows(run_dir).values())

    resumed = subprocess.run(_cli(run_dir, sentences), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    match = re.search(r"resuming the attack of 2 item\(s\) at step (\d+) of %d" % STEPS, resumed.stderr)
    assert match and int(match.group(1)) >= step, resumed.stderr[-3000:]
    _assert_same(run_dir, reference)
    _assert_consistent(run_dir)
    assert all(attempts == 2 for _, attempts in _rows(run_dir).values())
    assert not list((run_dir / CHECKPOINT_DIR).iterdir()), "the checkpoint outlived its committed batch"
    RunLock.acquire(run_dir).release()  # the finished run released its lock


def _fail_audio_write(monkeypatch, item_dir: Path, error: OSError) -> None:
    """``os.fsync`` of the temp file of ``item_dir``'s adversarial.wav raises ``error``."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.startswith(f"{item_dir}/.adversarial.wav."):
            raise error
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


class _DiskFullAtCommit:
    """A store connection whose ``COMMIT`` fails as SQLite's does on a full disk (SQLITE_FULL)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode, error.sqlite_errorname = 13, "SQLITE_FULL"
            raise error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def _fail_commit(monkeypatch, key: str, fault: str) -> None:
    """The attack commit of ``key`` fails: ``full`` at its COMMIT, ``read-only`` as a real SQLITE_READONLY."""
    real_commit = ResultsStore.commit

    def commit(self, stage, item_key, result, audio, elapsed=0.0):
        if stage == "targeted" and item_key == key:
            if fault == "full":
                self._conn = _DiskFullAtCommit(self._conn)
            else:
                self._conn.execute("PRAGMA query_only = ON")
        return real_commit(self, stage, item_key, result, audio, elapsed)

    monkeypatch.setattr(ResultsStore, "commit", commit)


def test_failed_writes_stop_the_run_with_one_clear_line_and_a_rerun_completes(tmp_path, monkeypatch, reference):
    config = _config()
    run_dir = tmp_path / "run"
    first_key, second_key = (spec.key for spec in config.items())
    item_dir = run_dir / AUDIO_DIR / Path(*second_key.split("/"))
    faults = [
        (lambda: _fail_audio_write(monkeypatch, item_dir, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
         f"could not write {item_dir / 'adversarial.wav'}: No space left on device; free space and rerun to resume"),
        (lambda: _fail_commit(monkeypatch, second_key, "full"),
         f"could not write {run_dir / DB_NAME}: database or disk is full; free space and rerun to resume"),
        (lambda: _fail_audio_write(monkeypatch, item_dir, PermissionError(errno.EACCES, os.strerror(errno.EACCES))),
         f"could not write {item_dir / 'adversarial.wav'}: Permission denied; make it writable"),
        (lambda: _fail_commit(monkeypatch, second_key, "read-only"),
         f"could not write {run_dir / DB_NAME}: attempt to write a readonly database; make it writable"),
    ]
    first_done = None
    for inject, message in faults:
        inject()
        with pytest.raises(StorageError) as info:
            run_experiment(config, run_dir)
        monkeypatch.undo()
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
        _assert_consistent(run_dir)
        rows = _rows(run_dir)
        first_done = first_done or rows[first_key][0]
        assert rows[first_key][0] == first_done is not None, "the first item is committed once and kept"
        assert rows[second_key][0] is None, "the failed item must not be committed"
        assert len(list((run_dir / CHECKPOINT_DIR).glob("*.pt"))) == 1, "the batch's checkpoint must be kept"

    run = run_experiment(config, run_dir)
    assert run.computed == {"clean": 0, "targeted": 1}
    _assert_same(run_dir, reference)
    _assert_consistent(run_dir)
    assert _rows(run_dir)[second_key][1] == len(faults) + 1 and _rows(run_dir)[first_key][1] == 1
    assert not list((run_dir / CHECKPOINT_DIR).glob("*.pt"))
