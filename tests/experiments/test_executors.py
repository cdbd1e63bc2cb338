"""Same seed, same machine: identical stored results whichever executor ran them, both stages compared.

Real TTS, channel, whisper-tiny.en, detectors and a short targeted attack. Every stored field except
timings is compared, with every audio file byte for byte (clean, channel, adversarial, resyntheses).

(pocketsphinx would be cheaper, but its decoder carries state between utterances, so its transcripts depend
on what a worker decoded before.)
"""

from __future__ import annotations

import operator

import pytest
import torch

from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.executors import DEFAULT_THREADS, LocalExecutor, RayExecutor, make_executor
from synthcheck.experiments.pipeline import ExperimentRun, run_experiment
from synthcheck.errors import BadInputError

CONFIG = ExperimentConfig(
    sentences=("it was the best of times", "it was the worst of times"),
    recognizer="whisper-tiny.en",
    attack_steps=6,
    attack_batch_size=2,
    seed=11,
)
#: Wall-clock fields: the only stored values allowed to differ between runs.
VOLATILE = {"timings", "compute_seconds", "compare_seconds", "seconds"}


def steady(value):
    """``value`` with every timing field dropped, at any depth."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    return value


def stored(run: ExperimentRun) -> tuple[list[tuple], dict[str, bytes], dict]:
    """Every stored result (timings dropped), every audio file's bytes, and the metrics."""
    rows = [(r.spec.key, steady(r.clean.to_dict()), steady(r.attack.to_dict())) for r in run.rows]
    audio = {str(p.relative_to(run.run_dir)): p.read_bytes() for p in sorted(run.run_dir.rglob("*.wav"))}
    return rows, audio, steady(run.metrics.to_dict())


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> ExperimentRun:
    return run_experiment(CONFIG, tmp_path_factory.mktemp("local"), executor=LocalExecutor())


def test_local_executor_yields_in_task_order():
    assert list(LocalExecutor().map_unordered(lambda x: x * x, [3, 1, 2])) == [(0, 9), (1, 1), (2, 4)]


def test_local_tasks_run_on_the_fixed_thread_count_and_the_caller_keeps_its_own():
    before = torch.get_num_threads()
    seen = [n for _, n in LocalExecutor(threads=1).map_unordered(lambda _: torch.get_num_threads(), [0, 1])]
    assert seen == [1, 1] and torch.get_num_threads() == before


def test_unknown_executor_stray_address_and_bad_thread_counts_are_refused():
    with pytest.raises(BadInputError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(BadInputError, match="--address"):
        make_executor("local", address="10.0.0.1:6379")
    with pytest.raises(BadInputError, match="threads"):
        LocalExecutor(threads=0)
    with pytest.raises(BadInputError, match="needs 4 CPUs"):
        RayExecutor(num_cpus=2, threads=4)


def test_a_run_records_its_thread_count_and_cpu(local_run):
    from synthcheck.experiments.store import ResultsStore

    with ResultsStore.read(local_run.run_dir) as store:
        versions = store.versions()
    assert versions["torch_threads"] == str(DEFAULT_THREADS)
    assert versions["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "cpu" in versions and "cpu_isa" in versions


def test_ray_and_local_executors_store_identical_results_in_both_stages(local_run, tmp_path):
    pytest.importorskip("ray", reason="ray is an optional extra (pip install 'synthcheck[ray]')")
    with make_executor("ray") as executor:
        # a Ray worker alone would run on 1 thread (Ray sets OMP_NUM_THREADS=1), the driver on all cores
        assert [n for _, n in executor.map_unordered(operator.call, [torch.get_num_threads])] == [DEFAULT_THREADS]
        remote = run_experiment(CONFIG, tmp_path / "ray", executor=executor)
    assert remote.computed == local_run.computed == {"clean": 2, "targeted": 2}
    rows, audio, metrics = stored(remote)
    local_rows, local_audio, local_metrics = stored(local_run)
    assert rows == local_rows
    assert audio.keys() == local_audio.keys() and any("adversarial" in name for name in audio)
    assert audio == local_audio
    assert metrics == local_metrics
    # the comparison has teeth: the attack moved each item's audio, by a different amount
    attacked = [r.attack for r in local_run.rows]
    assert all(a.steps >= 1 and a.db_x < -20 for a in attacked) and len({a.db_x for a in attacked}) == 2


def test_the_same_seed_in_a_fresh_directory_gives_identical_results(local_run, tmp_path):
    again = run_experiment(CONFIG, tmp_path / "again", executor=LocalExecutor())
    assert stored(again) == stored(local_run)
    other_seed = run_experiment(CONFIG.with_overrides(seed=12), tmp_path / "seed12", executor=LocalExecutor(),
                                stages=("clean",))
    assert [r.clean.score for r in other_seed.records] != [r.clean.score for r in local_run.records]
