"""`synthcheck reproduce` end to end with the real components, killed with SIGKILL twice and resumed.

One scenario (it is the expensive part of the suite): kill after the first committed item, kill again
during the attack stage, rerun to completion, rerun once more (nothing recomputed), then try another config
on the same directory (refused). The resumed results must equal an uninterrupted run's exactly, and the
summary must be what the stored per-item numbers give. A slow test runs the whole thing twice more and
compares exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from experiments.records import stored_rows

from synthcheck.experiments.store import DB_NAME, ResultsStore

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
            return conn.execute(
                "SELECT i.key, c.done_at, a.done_at, COALESCE(c.attempts, 0), COALESCE(a.attempts, 0) FROM items i "
                "LEFT JOIN stages c ON c.key = i.key AND c.stage = 'clean' "
                "LEFT JOIN stages a ON a.key = i.key AND a.stage = 'targeted' ORDER BY i.key").fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []


#: Stored fields that measure time, not results: left out of the exact comparisons.
TIMING_KEYS = frozenset({"timings", "compute_seconds", "compare_seconds", "seconds", "wall_seconds",
                         "latency_per_second"})
#: Summary fields naming the run's own files.
PATH_KEYS = frozenset({"report", "run_dir"})


def without(value: Any, keys: frozenset[str]) -> Any:
    """``value`` with every dict entry named in ``keys`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def run_to_completion(run_dir: Path, timeout: float = 900) -> dict[str, Any]:
    """Run the CLI on ``run_dir`` until it finishes; its JSON summary."""
    done = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def stored_results(run_dir: Path) -> dict[str, tuple]:
    """Per item key: the stored clean and attack results without timings."""
    with ResultsStore.read(run_dir) as store:
        return {r.spec.key: (without(r.clean, TIMING_KEYS), without(r.attack, TIMING_KEYS)) for r in stored_rows(store)}


def audio_digests(run_dir: Path) -> dict[str, str]:
    """SHA-256 of every stored WAV, by path relative to the run directory."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*.wav"))}


def assert_same_results(run_dir: Path, summary: dict[str, Any], reference_dir: Path, reference: dict[str, Any]) -> None:
    """Exactly the same summary, per-item numbers and audio as the reference run (timings and paths aside)."""
    assert without(summary, TIMING_KEYS | PATH_KEYS) == without(reference, TIMING_KEYS | PATH_KEYS)
    assert stored_results(run_dir) == stored_results(reference_dir)
    assert audio_digests(run_dir) == audio_digests(reference_dir)


def rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def mann_whitney_auc(negatives: list[float], positives: list[float]) -> float | None:
    """P(positive score < negative score) + P(tie) / 2: the AUC of flagging low scores."""
    if not negatives or not positives:
        return None
    pairs = [(p < n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs)


def assert_summary_matches_stored_items(run_dir: Path, summary: dict[str, Any]) -> None:
    """Recompute the summary's headline numbers from the stored per-item results, independently of synthcheck."""
    with ResultsStore.read(run_dir) as store:
        records = stored_rows(store)
        threshold, primary = store.config().threshold, store.config().primary_detector

    def score(result: dict[str, Any]) -> float:
        return result["detectors"][primary]["score"]

    clean = [r.clean for r in records if r.clean is not None]
    attacked = [r.attack for r in records if r.attack is not None]
    successful = [a for a in attacked if a["success"]]
    for result in clean + attacked:  # every stored verdict follows the rule "flagged iff score < threshold"
        for verdict in result["detectors"].values():
            assert verdict["consistent"] == (verdict["score"] >= verdict["threshold"])
    assert summary["threshold"] == threshold
    assert (summary["n_items"], summary["n_clean"], summary["n_attacked"]) == (len(records), len(clean), len(attacked))
    assert summary["n_attack_success"] == len(successful)
    assert summary["attack_success_rate"] == rate([a["success"] for a in attacked])
    assert summary["false_positive_rate"] == rate([score(c) < threshold for c in clean])
    assert summary["detection_rate"] == rate([score(a) < threshold for a in successful])
    assert summary["detection_rate_all_attacks"] == rate([score(a) < threshold for a in attacked])
    assert summary["n_clean_recognized"] == sum(c["wer"] == 0.0 for c in clean)
    expected_auc = mann_whitney_auc([score(c) for c in clean], [score(a) for a in successful])
    assert summary["auc"] == (None if expected_auc is None else pytest.approx(expected_auc))
    snrs = [a["snr_db"] for a in successful]
    assert summary["median_snr_db"] == (float(np.median(snrs)) if snrs else None)
    for row in (d for d in summary["detectors"] if d["dataset"] == "all"):
        name = row["detector"]
        clean_scores = [c["detectors"][name]["score"] for c in clean]
        assert row["false_positive_rate"] == rate([not c["detectors"][name]["consistent"] for c in clean])
        # calibrated for 5 % FPR: sorted scores, floor(0.05 n) of them may be flagged
        assert row["calibrated"]["threshold"] == sorted(clean_scores)[math.floor(0.05 * len(clean_scores))]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """The same run, never killed: its directory and summary."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "quick"
    return run_dir, run_to_completion(run_dir)


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


def test_reproduce_survives_sigkill_and_resumes_without_duplicates(tmp_path, uninterrupted):
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
    assert_summary_matches_stored_items(run_dir, summary)
    # killed twice and resumed, it computed exactly what a run never interrupted computes
    assert_same_results(run_dir, summary, *uninterrupted)
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


@pytest.mark.slow
def test_reproduce_twice_gives_identical_results(tmp_path, uninterrupted):
    """A whole quick ``reproduce`` run again in another directory: the same summary, numbers and audio, exactly."""
    run_dir = tmp_path / "again" / "quick"
    summary = run_to_completion(run_dir)
    assert_summary_matches_stored_items(run_dir, summary)
    assert_same_results(run_dir, summary, *uninterrupted)
    assert len(stored_results(run_dir)) == 3 and len(audio_digests(run_dir)) >= 3 * 3
