"""`synthcheck reproduce` end to end with the real components, killed with SIGKILL twice and resumed.

One scenario (it is the expensive part of the suite): kill after the first committed item, kill again
during the attack stage, rerun to completion, rerun once more (nothing recomputed), then try another config
on the same directory (refused).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthcheck.experiments.store import DB_NAME

STEPS = "3"


def command(run_dir: Path, *extra: str) -> list[str]:
    return [str(Path(sys.executable).parent / "synthcheck"), "reproduce", "--quick", "--steps", STEPS,
            "--run-dir", str(run_dir), "--json", *extra]


def rows(run_dir: Path) -> list[tuple]:
    """(key, clean_done_at, attack_done_at, clean_attempts, attack_attempts) of every item."""
    db = run_dir / DB_NAME
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return conn.execute("SELECT key, clean_done_at, attack_done_at, clean_attempts, attack_attempts "
                                "FROM items ORDER BY key").fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []


def run_until(run_dir: Path, condition, timeout: float = 600) -> list[tuple]:
    """Start the CLI, wait for ``condition(rows)``, SIGKILL it; return the rows seen at the kill."""
    log = run_dir.with_suffix(".log")
    with log.open("wb") as err:
        proc = subprocess.Popen(command(run_dir), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    try:
        while True:
            seen = rows(run_dir)
            if condition(seen):
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the kill point: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("kill point not reached in time")
            time.sleep(0.2)
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
    return rows(run_dir)


def test_reproduce_survives_sigkill_and_resumes_without_duplicates(tmp_path):
    run_dir = tmp_path / "quick"

    # Kill 1: right after the first item's clean stage is committed.
    first = run_until(run_dir, lambda r: any(row[1] is not None for row in r))
    committed_first = {row[0]: row[1] for row in first if row[1] is not None}
    assert 1 <= len(committed_first) < 3

    # Kill 2: during the attack stage (all clean rows committed, the batch of three in flight).
    second = run_until(run_dir, lambda r: len(r) == 3 and all(row[1] is not None for row in r))
    for key, done_at in committed_first.items():
        assert dict((row[0], row[1]) for row in second)[key] == done_at, "a finished item was recomputed"

    # Rerun to completion.
    done = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    # Piped stderr has no live bar: progress comes as plain lines, ending at 100 % for each stage.
    assert "stage 2: attack, detect: 100 %" in done.stderr.splitlines()
    summary = json.loads(done.stdout)
    final = rows(run_dir)
    assert len(final) == 3 and len({row[0] for row in final}) == 3
    assert all(row[1] is not None and row[2] is not None for row in final)
    for key, clean_done_at, _, clean_attempts, attack_attempts in final:
        if key in committed_first:
            assert clean_done_at == committed_first[key] and clean_attempts == 1
        else:
            assert clean_attempts == 2  # started in the first run, killed, finished in the second
        assert attack_attempts >= 1
    assert summary["n_items"] == 3 and summary["n_clean"] == 3 and summary["n_attacked"] == 3
    for key in ("detection_rate", "false_positive_rate", "auc", "median_snr_db"):
        assert key in summary
    assert 0.0 <= summary["false_positive_rate"] <= 1.0
    report = Path(summary["report"])
    assert report.is_file() and report.stat().st_size > 100_000
    wavs = sorted(p.name for p in run_dir.rglob("*.wav"))
    assert wavs.count("channel.wav") == 3 and wavs.count("adversarial.wav") == 3
    assert not list(run_dir.rglob("*.tmp")), "a partial file was left behind"

    # Rerun of a finished run: nothing is computed again.
    again = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert rows(run_dir) == final
    assert json.loads(again.stdout)["false_positive_rate"] == summary["false_positive_rate"]

    # Another config on the same directory is refused with one line.
    other = subprocess.run(command(run_dir, "--seed", "1"), capture_output=True, text=True, timeout=300)
    assert other.returncode == 2
    message = other.stderr.strip()
    assert "different config" in message and "--new" in message and len(message.splitlines()) == 1
