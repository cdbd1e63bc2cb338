"""Theorem 1's predictions and bounds for a Gaussian compression matrix, as functions of (N, M, r, distances, ε).

The one fact behind them: for Gaussian ``A`` (M × N) the row space is a uniformly random M-dimensional
subspace, and for uniform unit ``o`` and any fixed unit ``v``

    ‖P o‖² ~ ‖P v‖² ~ Beta(M/2, (N − M)/2),   mean M/N.

Write ``q_p`` for the p-quantile of that Beta law and ``κ = E‖P v‖ = E sqrt(Beta)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import exp, lgamma, sqrt

from scipy.stats import beta as beta_law

from synthcheck.errors import BadInputError


def projected_norm_quantile(n: int, m: int, p: float) -> float:
    """``sqrt(q_p)``: the p-quantile of ``‖P o‖`` for a unit vector ``o`` and a random M-dim subspace of R^N."""
    if m >= n:
        return 1.0
    return sqrt(float(beta_law.ppf(p, m / 2, (n - m) / 2)))


def projected_norm_mean(n: int, m: int) -> float:
    """``κ(N, M) = E‖P o‖ = Γ((M+1)/2)·Γ(N/2) / (Γ(M/2)·Γ((N+1)/2))`` (≈ sqrt(M/N)); 1 when M = N."""
    if m >= n:
        return 1.0
    return exp(lgamma((m + 1) / 2) + lgamma(n / 2) - lgamma(m / 2) - lgamma((n + 1) / 2))


@dataclass(frozen=True)
class LinearTheory:
    """Theorem 1's numbers for one (N, M); ``offset = ‖x − c_1‖`` and ``distance = ‖c_i − x‖``.

    ``confidence = 1 − ε`` is the probability with which a random perturbation must keep the decision.
    """

    n: int
    m: int
    radius: float
    offset: float
    distance: float
    confidence: float
    #: E‖P(c_i − x)‖ − r: expected minimal targeted perturbation.
    adv_targeted_mean: float
    #: With probability ≥ 1 − 2ε over A the minimal targeted perturbation lies in [low, high].
    adv_targeted_low: float
    adv_targeted_high: float
    #: r − E‖P(x − c_1)‖: expected minimal untargeted perturbation (always in [r − offset, r]).
    adv_untargeted_mean: float
    #: (r − offset)/sqrt(q_{1−ε}): random perturbations up to this norm keep the decision w.p. ≥ 1 − ε, always.
    random_radius_low: float
    #: sqrt(r² − offset²·M/N)/sqrt(q_{1−ε}): typical random-robust radius (cross term neglected).
    random_radius_typical: float
    #: 1/sqrt(q_{1−ε}) ≈ sqrt(N/M): the random-robust radius over the minimal untargeted perturbation is at least this.
    ratio_low: float
    #: ratio_low·sqrt((r + ‖P(x−c_1)‖)/(r − ‖P(x−c_1)‖)) at the typical ‖P(x−c_1)‖ = offset·sqrt(M/N).
    ratio_typical: float
    sqrt_n_over_m: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for JSON)."""
        return asdict(self)


def linear_theory(
    n: int, m: int, *, radius: float, offset: float, distance: float, confidence: float = 0.99
) -> LinearTheory:
    """Evaluate Theorem 1's predictions and bounds (see :class:`LinearTheory`).

    Raises
    ------
    BadInputError
        Inconsistent sizes or geometry (M > N, offset ≥ r, confidence outside (0, 1)).
    """
    if not 1 <= m <= n:
        raise BadInputError(f"need 1 ≤ M ≤ N, got N={n}, M={m}")
    if not 0 <= offset < radius:
        raise BadInputError(f"x must lie inside its ball: need 0 ≤ offset < r, got offset={offset}, r={radius}")
    if not 0 < confidence < 1:
        raise BadInputError(f"confidence must be in (0, 1), got {confidence}")
    eps = 1 - confidence
    kappa = projected_norm_mean(n, m)
    q_hi = projected_norm_quantile(n, m, confidence)
    q_lo = projected_norm_quantile(n, m, eps)
    typical_offset = offset * sqrt(m / n)
    ratio_low = 1 / q_hi
    return LinearTheory(
        n=n,
        m=m,
        radius=radius,
        offset=offset,
        distance=distance,
        confidence=confidence,
        adv_targeted_mean=kappa * distance - radius,
        adv_targeted_low=q_lo * distance - radius,
        adv_targeted_high=q_hi * distance - radius,
        adv_untargeted_mean=radius - kappa * offset,
        random_radius_low=(radius - offset) * ratio_low,
        random_radius_typical=sqrt(radius**2 - typical_offset**2) * ratio_low,
        ratio_low=ratio_low,
        ratio_typical=ratio_low * sqrt((radius + typical_offset) / (radius - typical_offset)),
        sqrt_n_over_m=sqrt(n / m),
    )
