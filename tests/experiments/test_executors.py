"""Local and Ray executors give the same rows (stage 1 with whisper-tiny.en: real TTS, channel, ASR, detector).

(pocketsphinx would be cheaper, but its decoder carries state between utterances, so its transcripts depend
on what a worker decoded before.)
"""

from __future__ import annotations

import pytest

from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.executors import LocalExecutor, make_executor
from synthcheck.experiments.pipeline import run_experiment
from synthcheck.errors import BadInputError

CONFIG = ExperimentConfig(
    sentences=("it was the best of times", "it was the worst of times", "it was the age of wisdom"),
    recognizer="whisper-tiny.en",
    seed=11,
)
VOLATILE = {"timings", "compute_seconds"}


def comparable(run) -> list[tuple]:
    """Stored clean results without timings (top level, and each detector's ``seconds``)."""
    def steady(result: dict) -> dict:
        kept = {k: v for k, v in result.items() if k not in VOLATILE}
        kept["detectors"] = {name: {k: v for k, v in d.items() if k != "seconds"} for name, d in kept["detectors"].items()}
        return kept

    return [(r.spec.key, steady(r.clean)) for r in run.records]


def test_local_executor_yields_in_task_order():
    assert list(LocalExecutor().map_unordered(lambda x: x * x, [3, 1, 2])) == [(0, 9), (1, 1), (2, 4)]


def test_unknown_executor_and_stray_address_are_refused():
    with pytest.raises(BadInputError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(BadInputError, match="--address"):
        make_executor("local", address="10.0.0.1:6379")


def test_ray_and_local_executors_store_identical_results(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="ray is an optional extra (pip install 'synthcheck[ray]')")
    local = run_experiment(CONFIG, tmp_path / "local", executor=LocalExecutor(), stages=("clean",))
    with make_executor("ray") as executor:
        remote = run_experiment(CONFIG, tmp_path / "ray", executor=executor, stages=("clean",))
    assert remote.computed == {"clean": 3, "attack": 0}
    assert comparable(remote) == comparable(local)
    for r in local.records:
        rel = r.clean["audio"]["channel"]
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes()
    # the per-item noise differs between items and with the seed
    scores = [r.clean["score"] for r in local.records]
    assert len(set(scores)) == 3
