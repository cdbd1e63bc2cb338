"""Measurements on random instances of the linear compressed classifier, set against Theorem 1.

:func:`linear_sweep` is what ``synthcheck theory linear`` runs; :func:`theorem_1_3_check` is the Monte
Carlo check that every attack smaller than ``min_{c∈X_i} ‖c − x‖ − r`` is flagged by the consistency test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.errors import BadInputError
from synthcheck.theory.linear import (
    NO_LABEL,
    CompressedClassifier,
    minimal_targeted_perturbation,
    minimal_untargeted_perturbation,
    random_robust_radius,
)
from synthcheck.theory.linear_bounds import LinearTheory, linear_theory


@dataclass(frozen=True)
class Theorem13Check:
    """Outcome of :func:`theorem_1_3_check`."""

    attacks: int
    #: Attacks that changed the decision to another label.
    successful: int
    #: Successful attacks with ‖δ‖ < min_{c∈X_i} ‖c − x‖ − r (i the new label).
    sub_bound: int
    #: Of those, how many the consistency test flagged (the theorem says: all).
    flagged: int

    @classmethod
    def total(cls, checks: Sequence[Theorem13Check]) -> Theorem13Check:
        """Counts summed over several checks."""
        return cls(*(sum(getattr(c, name) for c in checks) for name in ("attacks", "successful", "sub_bound", "flagged")))

    @property
    def holds(self) -> bool:
        """Every successful sub-bound attack was flagged."""
        return self.flagged == self.sub_bound


def random_unit(n: int, rng: np.random.Generator) -> np.ndarray:
    """A direction uniform on the unit sphere of R^n."""
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def theorem_1_3_check(
    clf: CompressedClassifier, x: np.ndarray, rng: np.random.Generator, *, attacks: int = 200
) -> Theorem13Check:
    """Attack ``x`` towards random codewords of other labels and check the consistency test flags every
    successful attack below the theorem's bound.

    Each attack is the minimal targeted perturbation towards a random codeword, enlarged by a random factor
    ``1 + η`` (η up to 5 %) plus a random null-space component, kept below the bound when possible.
    """
    x = np.asarray(x, dtype=np.float64)
    label = int(clf.decide(x)[0])
    others = np.flatnonzero(clf.labels != label)
    if label == NO_LABEL or others.size == 0:
        raise BadInputError("theorem 1.3 check needs x classified and codewords of at least one other label")
    dist_x = np.linalg.norm(clf.codewords - x, axis=1)
    bound = {int(i): float(dist_x[clf.labels == i].min() - clf.radius) for i in np.unique(clf.labels)}
    deltas = np.empty((attacks, clf.n))
    for k, target in enumerate(rng.choice(others, size=attacks)):
        delta = minimal_targeted_perturbation(clf, x, clf.codewords[target]).delta * (1 + rng.uniform(1e-6, 0.05))
        null = rng.standard_normal(clf.n)
        null -= clf.basis @ (null @ clf.basis)
        room = bound[int(clf.labels[target])] ** 2 - float(delta @ delta)
        if room > 0 and np.linalg.norm(null) > 0:
            delta = delta + null * (rng.uniform(0, np.sqrt(room)) / np.linalg.norm(null))
        deltas[k] = delta
    y = x + deltas
    decided = clf.decide(y)
    success = (decided != label) & (decided != NO_LABEL)
    below = np.array([success[k] and np.linalg.norm(deltas[k]) < bound[int(decided[k])] for k in range(attacks)])
    flags = clf.consistency_flags(y)
    return Theorem13Check(attacks, int(success.sum()), int(below.sum()), int((flags & below).sum()))


@dataclass(frozen=True)
class LinearSweepRow:
    """Means over valid trials for one M (``classifier = "uncompressed"`` is the A = I baseline)."""

    classifier: str
    n: int
    m: int
    trials: int
    adv_targeted: float
    adv_untargeted: float
    random_radius: float
    #: Mean over trials of random_radius / adv_untargeted.
    ratio: float
    ratio_min: float
    sqrt_n_over_m: float
    theorem_1_3: Theorem13Check
    theory: LinearTheory

    def as_dict(self) -> dict[str, object]:
        """Flat dict for JSON: measured fields, ``theorem_1_3_*`` and ``theory_*`` fields."""
        nested = ("theory", "theorem_1_3")
        out: dict[str, object] = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in nested}
        check = self.theorem_1_3
        out.update(
            theorem_1_3_sub_bound=check.sub_bound, theorem_1_3_flagged=check.flagged, theorem_1_3_holds=check.holds
        )
        out.update({f"theory_{k}": v for k, v in self.theory.as_dict().items() if k not in ("n", "m")})
        return out


def linear_sweep(
    n: int,
    ms: Sequence[int],
    *,
    trials: int = 20,
    seed: int = 0,
    radius: float = 1.0,
    offset: float = 0.5,
    distance: float = 20.0,
    confidence: float = 0.99,
    samples: int = 4000,
    on_trial: Callable[[], None] | None = None,
) -> list[LinearSweepRow]:
    """Measure minimal adversarial and random-robust perturbations for each M, plus the uncompressed baseline.

    Each trial draws a fresh geometry (``x`` at ``offset`` from ``c_1``, a codeword ``c_2`` of the other label
    at ``distance`` from ``x``) and a fresh Gaussian ``A``; trials where ``x`` is misclassified are skipped.
    ``on_trial`` is called after every trial (progress bars).
    """
    if n < 1:
        raise BadInputError(f"N must be at least 1, got {n}; give the input dimension, e.g. --n 1000")
    if any(not 1 <= m <= n for m in ms):
        raise BadInputError(f"every M must be between 1 and N={n}, got {list(ms)}")
    if trials < 1 or samples < 10:
        raise BadInputError("need at least 1 trial and 10 Monte Carlo samples")
    theories = {m: linear_theory(n, m, radius=radius, offset=offset, distance=distance, confidence=confidence) for m in [*ms, n]}
    rows = []
    for m in [*ms, None]:
        rng = np.random.default_rng([seed, m or 0])
        measured = []
        checks = []
        for _ in range(trials):
            c1 = np.zeros(n)
            x = c1 + offset * random_unit(n, rng)
            codewords = np.stack([c1, x + distance * random_unit(n, rng)])
            labels = np.array([0, 1])
            if m is None:
                clf = CompressedClassifier.uncompressed(codewords, labels, radius)
            else:
                clf = CompressedClassifier.gaussian(m, codewords, labels, radius, rng)
            if on_trial:
                on_trial()
            if int(clf.decide(x)[0]) != 0:
                continue
            targeted = minimal_targeted_perturbation(clf, x, codewords[1]).norm
            untargeted = minimal_untargeted_perturbation(clf, x, c1, rng).norm
            radius_l = random_robust_radius(clf, x, rng, confidence=confidence, samples=samples)
            measured.append((targeted, untargeted, radius_l, radius_l / untargeted))
            checks.append(theorem_1_3_check(clf, x, rng, attacks=20))
        if not measured:
            raise BadInputError(f"x was misclassified in every trial at M={m}; increase --distance")
        arr = np.array(measured)
        m_eff = m or n
        rows.append(
            LinearSweepRow(
                classifier="compressed" if m else "uncompressed",
                n=n,
                m=m_eff,
                trials=len(measured),
                adv_targeted=float(arr[:, 0].mean()),
                adv_untargeted=float(arr[:, 1].mean()),
                random_radius=float(arr[:, 2].mean()),
                ratio=float(arr[:, 3].mean()),
                ratio_min=float(arr[:, 3].min()),
                sqrt_n_over_m=float(np.sqrt(n / m_eff)),
                theorem_1_3=Theorem13Check.total(checks),
                theory=theories[m_eff],
            )
        )
    return rows
