"""The paper's experiment: configuration, resumable results store, executors, metrics, sweeps.

``run_experiment`` (in :mod:`.pipeline`) is imported lazily by callers: it pulls in the recognisers.
"""

from synthcheck.experiments.config import PAPER_TARGET, ExperimentConfig, ItemSpec, read_sentences_file
from synthcheck.experiments.executors import EXECUTORS, Executor, LocalExecutor, RayExecutor, make_executor
from synthcheck.experiments.metrics import (
    DetectorEvaluation,
    DetectorMetrics,
    ExperimentMetrics,
    auc,
    compute_metrics,
    detector_metrics,
    roc_curve,
    score_roc,
)
from synthcheck.experiments.sources import EXPERIMENT_DATASETS
from synthcheck.experiments.results import AttackOutcome, CleanResult, DetectorScore, ItemRecord, ResultRow
from synthcheck.experiments.store import ConfigMismatchError, ResultsStore

__all__ = [
    "EXECUTORS",
    "EXPERIMENT_DATASETS",
    "PAPER_TARGET",
    "AttackOutcome",
    "CleanResult",
    "ConfigMismatchError",
    "DetectorScore",
    "DetectorEvaluation",
    "DetectorMetrics",
    "ExperimentConfig",
    "ExperimentMetrics",
    "Executor",
    "ItemRecord",
    "ItemSpec",
    "LocalExecutor",
    "RayExecutor",
    "ResultRow",
    "ResultsStore",
    "auc",
    "compute_metrics",
    "detector_metrics",
    "make_executor",
    "read_sentences_file",
    "roc_curve",
    "score_roc",
]
