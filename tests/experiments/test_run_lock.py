"""One writer per run directory (:mod:`synthcheck.experiments.lock`), with a real second process and a real SIGKILL.

Two real ``synthcheck reproduce`` processes on one directory are in tests/experiments/test_attack_checkpoint.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from experiments.records import clean_result

from synthcheck.errors import BadInputError, StorageError
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.lock import LOCK_NAME, RunDirectoryBusyError, RunLock
from synthcheck.experiments.pipeline import run_experiment
from synthcheck.experiments.store import DB_NAME, ResultsStore

HOLDER = "import sys, time; from synthcheck.experiments.lock import RunLock; RunLock.acquire(sys.argv[1]); " \
         "print('locked', flush=True); time.sleep(600)"


@pytest.fixture
def holder(tmp_path):
    """A real other process holding the lock of ``tmp_path / 'run'``."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc, run_dir
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_at_once_naming_the_live_holder(holder):
    proc, run_dir = holder
    with pytest.raises(RunDirectoryBusyError) as info:
        RunLock.acquire(run_dir)
    message = str(info.value)
    assert f"run directory {run_dir} is in use by pid {proc.pid} on {socket.gethostname()} (started " in message
    assert message.endswith("wait for it or use another --run-dir") and "\n" not in message

    config = ExperimentConfig.quick()
    started = time.perf_counter()
    with pytest.raises(RunDirectoryBusyError, match=f"pid {proc.pid}"):
        run_experiment(config, run_dir)
    assert time.perf_counter() - started < 2.0, "the refusal must come before any model is loaded"
    assert not (run_dir / DB_NAME).exists(), "the refused run touched the store"


def test_readers_do_not_need_the_lock(holder, tmp_path):
    proc, run_dir = holder
    config = ExperimentConfig.quick()
    with ResultsStore.open(run_dir, config, {"python": "3"}) as store:  # the store itself takes no lock
        store.commit("clean", config.items()[0].key, clean_result(0.5), {})
    with ResultsStore.read(run_dir) as store:
        assert [r.clean for r in store.records()][0] == clean_result(0.5)


def test_the_lock_of_a_killed_process_is_taken_over(holder):
    proc, run_dir = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with RunLock.acquire(run_dir) as lock:
        assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(RunDirectoryBusyError, match=f"pid {os.getpid()}"):
            RunLock.acquire(run_dir)  # held by this process now: another open of the file is refused too
    RunLock.acquire(run_dir).release()  # released on exit of the `with`


def test_unusable_run_directories_are_clear_errors(tmp_path, monkeypatch):
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    with pytest.raises(BadInputError, match="is not a directory; choose another --run-dir"):
        RunLock.acquire(not_dir)

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StorageError, match=f"could not write {tmp_path / 'run' / LOCK_NAME}: Read-only file system; "
                                           "make it writable"):
        RunLock.acquire(tmp_path / "run")


def test_item_keys_never_become_paths_outside_the_run_directory(tmp_path):
    import numpy as np

    from synthcheck.experiments.config import ExperimentConfig
    from synthcheck.experiments.store import ResultsStore

    with ResultsStore.open(tmp_path / "run", ExperimentConfig(), {}) as store:
        rel = store.write_array("../../x/..", "..", np.zeros(160, np.float32))
        path = store.file_path(rel).resolve()
    assert path.is_file() and (tmp_path / "run").resolve() in path.parents
    assert not (tmp_path / "x").exists() and ".." not in rel.split("/")
