"""Theorem 2 made executable: the fragility ratio ``σ_max(J) / E‖J·o‖`` of a differentiable map.

For ``h: R^N → R^M`` with Jacobian ``J`` at ``x`` and ``o`` uniform on the unit sphere,

    E‖J·o‖ ≤ sqrt(E‖J·o‖²) = ‖J‖_F / sqrt(N) ≤ sqrt(M)·σ_max / sqrt(N),   so   σ_max / E‖J·o‖ ≥ sqrt(N/M):

the worst direction moves the output at least sqrt(N/M) times more than a typical random direction of the
same norm. For a Gaussian J with i.i.d. entries of scale s, σ_max → s·(sqrt(N) + sqrt(M)) and
E‖J·o‖ → s·sqrt(M), so the ratio tends to ``1 + sqrt(N/M)`` (:func:`gaussian_ratio`), above both
references sqrt(N/M) and sqrt((N+M)/M). Everything here is matrix-free: J is only touched through
Jacobian-vector products (forward mode, ``torch.func.jvp``) and vector-Jacobian products
(``torch.func.vjp``, one forward pass reused for every product), so N = 10^5 is fine.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: A batched map: ``h(X)`` takes ``[B, *input_shape]`` and returns ``[B, M]``, rows computed independently.
BatchedMap = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class FiniteDifferenceCheck:
    """``α(ε) / E β(o, ε)`` from finite differences against the JVP ratio on the same directions.

    ``α(ε) = ‖h(x + ε·v) − h(x)‖`` along the top right singular vector ``v`` (the larger of ±v) approximates
    ``max_{‖o‖=ε} ‖h(x + o) − h(x)‖``; ``β(o, ε) = ‖h(x + ε·o) − h(x)‖`` for random unit ``o``.
    """

    eps: float
    alpha: float
    mean_beta: float
    fd_ratio: float
    #: σ_max / mean ‖J·o‖ over the same random directions.
    jvp_ratio: float
    rel_diff: float


@dataclass(frozen=True)
class FragilityReport:
    """Fragility of ``h`` at ``x``: σ_max(J), E‖J·o‖, their ratio and the theoretical references."""

    n: int
    m: int
    sigma_max: float
    #: Relative change of the σ_max estimate in the last power iteration, and iterations used.
    sigma_max_rel_change: float
    iterations: int
    converged: bool
    #: σ_max estimate after each power iteration (monotone lower bounds on the true σ_max).
    sigma_history: tuple[float, ...]
    mean_jo: float
    mean_jo_stderr: float
    ratio: float
    ratio_stderr: float
    sqrt_n_over_m: float
    sqrt_n_plus_m_over_m: float
    n_jvp: int
    n_vjp: int
    #: Wall time in total and in the power iteration alone.
    seconds: float
    power_seconds: float
    #: One finite-difference check per step (largest step first); empty when skipped.
    fd_check: tuple[FiniteDifferenceCheck, ...]

    def as_dict(self) -> dict[str, object]:
        """Plain dict (for JSON)."""
        return asdict(self)


def gaussian_ratio(n: int, m: int) -> float:
    """Large-N value of σ_max / E‖J·o‖ for an M × N Gaussian J: ``1 + sqrt(N/M)`` (for M ≤ N)."""
    return 1 + math.sqrt(n / m)


def top_singular_pair(
    jvp: Callable[[Tensor], Tensor],
    vjp: Callable[[Tensor], Tensor],
    start: Tensor,
    *,
    iters: int = 30,
    rel_tol: float = 1e-3,
) -> tuple[float, Tensor, list[float]]:
    """Power iteration on ``JᵀJ`` from ``start``: returns (σ_max estimate, unit right vector, history).

    Each iteration costs one JVP and one VJP. The estimate ``‖JᵀJ·v‖ / ‖J·v‖`` (unit ``v``) never exceeds
    σ_max and grows towards it; iteration stops when its relative change drops below ``rel_tol``.
    """
    v = start / start.norm()
    history: list[float] = []
    for _ in range(iters):
        u = jvp(v)
        w = vjp(u)
        u_norm, w_norm = float(u.norm()), float(w.norm())
        if u_norm == 0 or w_norm == 0:
            return 0.0, v, [*history, 0.0]
        history.append(w_norm / u_norm)
        v = w / w_norm
        if len(history) > 1 and abs(history[-1] - history[-2]) <= rel_tol * history[-1]:
            break
    return history[-1], v, history


def fragility(
    h: BatchedMap,
    x: Tensor,
    *,
    generator: torch.Generator,
    iters: int = 30,
    samples: int = 64,
    batch: int = 16,
    rel_tol: float = 1e-3,
    fd_steps: Sequence[float] = (1e-2, 1e-3, 1e-4),
    fd_samples: int = 8,
) -> FragilityReport:
    """Measure the fragility ratio of ``h`` at ``x`` without forming the Jacobian.

    Parameters
    ----------
    h
        Batched differentiable map ``[B, *x.shape] -> [B, M]`` whose rows are computed independently.
    x
        The input point (any shape; N = x.numel()).
    generator
        Source of the random start vector and of the random directions.
    iters, rel_tol
        Power-iteration budget and stopping tolerance (see :func:`top_singular_pair`).
    samples, batch
        Random unit directions for E‖J·o‖ (standard error reported), evaluated ``batch`` at a time.
    fd_steps, fd_samples
        Steps ε of the finite-difference cross-check, relative to ``‖x‖`` (empty skips it), and how many of
        the random directions it uses. As ε → 0, α(ε)/E β(o, ε) must approach the JVP ratio.

    Raises
    ------
    BadInputError
        Non-finite input, non-finite or non-2-D output, fewer than 2 samples.
    """
    if samples < 2 or iters < 1:
        raise BadInputError(f"need iters ≥ 1 and samples ≥ 2, got iters={iters}, samples={samples}")
    x = x.detach()
    if not torch.isfinite(x).all():
        raise BadInputError("the input point contains NaN or infinite values")
    started = time.perf_counter()
    x1 = x.unsqueeze(0)
    y0, vjp_fn = torch.func.vjp(h, x1)
    if y0.ndim != 2 or not torch.isfinite(y0).all():
        raise BadInputError(f"h must return a finite [B, M] tensor, got shape {tuple(y0.shape)}")
    n, m = x.numel(), y0.shape[1]
    counts = {"jvp": 0, "vjp": 0}

    def jvp_batch(directions: Tensor) -> Tensor:
        counts["jvp"] += directions.shape[0]
        points = x1.expand(directions.shape[0], *x.shape).contiguous()
        return torch.func.jvp(h, (points,), (directions,))[1].detach()

    def vjp_one(u: Tensor) -> Tensor:
        counts["vjp"] += 1
        return vjp_fn(u.reshape(1, m))[0].detach()[0]

    start = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    power_started = time.perf_counter()
    sigma, top, history = top_singular_pair(
        lambda v: jvp_batch(v.unsqueeze(0))[0], vjp_one, start, iters=iters, rel_tol=rel_tol
    )
    power_seconds = time.perf_counter() - power_started
    rel_change = abs(history[-1] - history[-2]) / history[-1] if len(history) > 1 and history[-1] > 0 else math.inf
    log.info("power iteration: sigma_max=%.6g after %d iterations (rel change %.2e)", sigma, len(history), rel_change)

    directions = torch.randn((samples, *x.shape), generator=generator, dtype=x.dtype)
    directions /= directions.flatten(1).norm(dim=1).reshape(-1, *([1] * x.ndim))
    jo = torch.cat([jvp_batch(chunk).norm(dim=1) for chunk in directions.split(batch)]).double()
    mean_jo = float(jo.mean())
    stderr = float(jo.std(unbiased=True)) / math.sqrt(samples)
    ratio = sigma / mean_jo if mean_jo > 0 else math.inf
    x_norm = float(x.norm())
    fd = tuple(
        _finite_difference_check(h, x, y0, top, directions[:fd_samples], jo[:fd_samples], sigma, step * x_norm)
        for step in fd_steps
    )
    return FragilityReport(
        n=n,
        m=m,
        sigma_max=sigma,
        sigma_max_rel_change=rel_change,
        iterations=len(history),
        converged=rel_change <= rel_tol,
        sigma_history=tuple(history),
        mean_jo=mean_jo,
        mean_jo_stderr=stderr,
        ratio=ratio,
        ratio_stderr=ratio * stderr / mean_jo if mean_jo > 0 else math.inf,
        sqrt_n_over_m=math.sqrt(n / m),
        sqrt_n_plus_m_over_m=math.sqrt((n + m) / m),
        n_jvp=counts["jvp"],
        n_vjp=counts["vjp"],
        seconds=time.perf_counter() - started,
        power_seconds=power_seconds,
        fd_check=fd,
    )


def _finite_difference_check(
    h: BatchedMap, x: Tensor, y0: Tensor, top: Tensor, directions: Tensor, jo: Tensor, sigma: float, eps: float
) -> FiniteDifferenceCheck:
    if eps <= 0:
        raise BadInputError("the finite-difference step is zero (is the input all zeros?); pass fd_steps=()")
    with torch.no_grad():
        steps = torch.cat([top.unsqueeze(0), -top.unsqueeze(0), directions])
        moved = (h(x.unsqueeze(0) + eps * steps) - y0.detach()).norm(dim=1).double()
    alpha = float(moved[:2].max())
    mean_beta = float(moved[2:].mean())
    fd_ratio = alpha / mean_beta
    jvp_ratio = sigma / float(jo.mean())
    return FiniteDifferenceCheck(eps, alpha, mean_beta, fd_ratio, jvp_ratio, abs(fd_ratio - jvp_ratio) / jvp_ratio)
