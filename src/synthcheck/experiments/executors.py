"""Where the work runs: in this process, or fanned out over a Ray cluster.

Executors only compute: they run a module-level function over tasks and hand back
``(task_index, result)`` pairs as tasks finish. The driver (the pipeline) writes results to the store,
so the database has a single writer whichever executor runs the work.

Every task runs with the same number of torch intra-op threads, ``threads`` (default
:data:`DEFAULT_THREADS`), whichever executor runs it: a Ray worker would otherwise get one thread (Ray sets
``OMP_NUM_THREADS=1`` in workers) and the driver's process all cores, and MKL's float32 GEMM and FFT
(without conditional numerical reproducibility) may sum in a thread-dependent order. A Ray task also
reserves ``threads`` CPUs, so workers do not oversubscribe the cores. See docs/determinism.md.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from synthcheck.errors import BadInputError, MissingComponentError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
#: Torch intra-op threads of every task, on every executor and machine (a fixed number, not the core count).
DEFAULT_THREADS = 2


class Executor(ABC):
    """Runs ``fn(task)`` for each task; results arrive in completion order."""

    name: str = "executor"
    #: Torch intra-op threads each task runs with.
    threads: int = DEFAULT_THREADS

    @abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into tasks, fn(task))`` as each task finishes."""

    def close(self) -> None:
        """Release workers (no-op by default)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs tasks one after another in this process (the default)."""

    name = "local"

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self.threads = _checked_threads(threads)

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(tasks[i]))`` in order, each call on :attr:`threads` torch threads."""
        for i, task in enumerate(tasks):
            yield i, run_with_threads(fn, self.threads, task)


class RayExecutor(Executor):
    """Runs tasks as Ray tasks: a local cluster (``num_cpus`` CPUs) or an existing one at ``address``.

    Each task reserves ``threads`` CPUs and runs on that many torch threads.

    The dashboard is off, authentication tokens are not written (``RAY_AUTH_MODE=disabled``) and worker
    output is not forwarded to the driver's stdout (which may be carrying ``--json``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int = 2, threads: int = DEFAULT_THREADS) -> None:
        self.threads = _checked_threads(threads)
        if not address and num_cpus < self.threads:
            raise BadInputError(f"a Ray task needs {self.threads} CPUs but the local cluster would have {num_cpus}")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            import ray
        except ImportError:
            raise MissingComponentError(
                "the Ray executor needs ray; install it with `.venv/bin/pip install 'synthcheck[ray]'`"
            ) from None
        self._ray = ray
        self._owns_cluster = not ray.is_initialized()
        if self._owns_cluster:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus
            log.info("starting Ray (%s)", address or f"local, {num_cpus} CPUs")
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise BadInputError(f"cannot reach the Ray cluster at {address!r} ({exc}); check --address") from None

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Submit all tasks, then yield results as ``ray.wait`` reports them done."""
        ray = self._ray
        remote_fn = ray.remote(num_cpus=self.threads)(run_with_threads)
        pending = {remote_fn.remote(fn, self.threads, task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(done[0])
                yield index, ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._owns_cluster and self._ray.is_initialized():
            self._ray.shutdown()


def run_with_threads(fn: Callable[[Any], Any], threads: int, task: Any) -> Any:
    """``fn(task)`` on ``threads`` torch intra-op threads (the previous count is restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(task)
    finally:
        torch.set_num_threads(before)


def _checked_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BadInputError(f"threads must be a whole number >= 1, got {threads!r}")
    return threads


def make_executor(name: str, address: str | None = None, threads: int = DEFAULT_THREADS) -> Executor:
    """An executor by name: ``"local"`` or ``"ray"`` (``address`` only for Ray); tasks run on ``threads`` threads."""
    if name == "local":
        if address:
            raise BadInputError("--address only applies to --executor ray")
        return LocalExecutor(threads)
    if name == "ray":
        return RayExecutor(address=address, threads=threads)
    raise BadInputError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


__all__ = ["DEFAULT_THREADS", "EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor", "run_with_threads"]
