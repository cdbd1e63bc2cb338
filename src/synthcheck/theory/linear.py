"""Theorem 1 made executable: the linear compressed classifier ``h(y) = A·y``.

Setting (see ``docs/theory.md``): codewords ``c`` in R^N with labels, an open ball ``S_c`` of radius ``r``
around each one, and a classifier that only sees ``z = A·y`` (``A`` is M × N, M ≪ N). It decides label ``i``
when ``A·y ∈ A·S_c`` for a codeword ``c`` of label ``i``. With ``P = pinv(A)·A`` (the orthogonal projector
onto the row space of ``A``)::

    A·y ∈ A·S_c  ⟺  ‖P(y − c)‖ < r

because ``A·y = A·s`` exactly when ``y − s`` lies in the null space of ``A``. Everything below follows from
that rule. ``A = I`` gives the uncompressed bounded-distance (nearest-codeword) decoder, the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthcheck.errors import BadInputError

#: Label returned by :meth:`CompressedClassifier.decide` when ``A·y`` lies in no ``A·S_c`` (an erasure).
NO_LABEL = -1


@dataclass(frozen=True)
class CompressedClassifier:
    """Bounded-distance decoder that sees only ``A·y``.

    Parameters
    ----------
    a
        Compression matrix, shape (M, N).
    codewords
        Codewords, shape (K, N).
    labels
        Label of each codeword, shape (K,), non-negative integers.
    radius
        Radius ``r`` of the decision balls ``S_c``.
    """

    a: np.ndarray
    codewords: np.ndarray
    labels: np.ndarray
    radius: float
    #: Orthonormal basis of the row space of ``a``, shape (N, M): ``P = basis @ basis.T``.
    basis: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a = np.atleast_2d(np.asarray(self.a, dtype=np.float64))
        codewords = np.atleast_2d(np.asarray(self.codewords, dtype=np.float64))
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if codewords.shape[1] != a.shape[1]:
            raise BadInputError(f"codewords have dimension {codewords.shape[1]} but A has {a.shape[1]} columns")
        if labels.shape[0] != codewords.shape[0]:
            raise BadInputError(f"{labels.shape[0]} labels for {codewords.shape[0]} codewords; give one label each")
        if np.any(labels < 0):
            raise BadInputError("labels must be non-negative integers")
        if not self.radius > 0:
            raise BadInputError(f"radius must be positive, got {self.radius}")
        if a.shape[0] > a.shape[1]:
            raise BadInputError(f"A must be M x N with M <= N, got shape {a.shape}")
        basis, r = np.linalg.qr(a.T)
        diag = np.abs(np.diag(r))
        if diag.min() <= diag.max() * max(a.shape) * np.finfo(float).eps:
            raise BadInputError("A must have full row rank (its rows are linearly dependent); drop redundant rows")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "codewords", codewords)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "radius", float(self.radius))
        object.__setattr__(self, "basis", np.ascontiguousarray(basis))

    @classmethod
    def gaussian(
        cls, m: int, codewords: np.ndarray, labels: np.ndarray, radius: float, rng: np.random.Generator
    ) -> CompressedClassifier:
        """Compressed classifier with an M × N matrix of i.i.d. standard normal entries."""
        n = np.atleast_2d(codewords).shape[1]
        if not 1 <= m <= n:
            raise BadInputError(f"M must be between 1 and N={n}, got {m}")
        return cls(rng.standard_normal((m, n)), codewords, labels, radius)

    @classmethod
    def uncompressed(cls, codewords: np.ndarray, labels: np.ndarray, radius: float) -> CompressedClassifier:
        """The baseline: the bounded-distance nearest-codeword decoder in R^N (``A = I``)."""
        n = np.atleast_2d(codewords).shape[1]
        return cls(np.eye(n), codewords, labels, radius)

    @property
    def n(self) -> int:
        """Input dimension N."""
        return self.a.shape[1]

    @property
    def m(self) -> int:
        """Compressed dimension M."""
        return self.a.shape[0]

    def projector(self) -> np.ndarray:
        """``P = pinv(A)·A``, the N × N orthogonal projector onto the row space of ``A``."""
        return self.basis @ self.basis.T

    def compressed_distances(self, y: np.ndarray) -> np.ndarray:
        """``‖P(y − c)‖`` for every input row ``y`` (B, N) and codeword ``c``: shape (B, K)."""
        z = np.atleast_2d(y) @ self.basis
        return _pairwise_distances(z, self.codewords @ self.basis)

    def decide(self, y: np.ndarray) -> np.ndarray:
        """Decided labels for inputs (B, N): the label whose ball contains ``A·y`` (the nearest one if
        several do), or :data:`NO_LABEL`."""
        return self._decide_from_distances(self.compressed_distances(y))

    def _decide_from_distances(self, dist: np.ndarray) -> np.ndarray:
        nearest = np.argmin(dist, axis=1)
        inside = dist[np.arange(dist.shape[0]), nearest] < self.radius
        return np.where(inside, self.labels[nearest], NO_LABEL)

    def consistency_flags(self, y: np.ndarray) -> np.ndarray:
        """The consistency test: decompress the decided label of each ``y`` to its nearest codeword ``c`` of
        that label (in R^N) and flag when ``‖y − c‖ ≥ r``. Erasures (no label) are flagged."""
        y = np.atleast_2d(y)
        decided = self.decide(y)
        dist = _pairwise_distances(y, self.codewords)
        dist = np.where(self.labels[None, :] == decided[:, None], dist, np.inf)
        return dist.min(axis=1) >= self.radius


@dataclass(frozen=True)
class Perturbation:
    """A minimal perturbation: its norm (the infimum; the decision region is open) and a vector ``delta``
    of that norm such that any ``(1 + η)·delta`` with small ``η > 0`` achieves the goal."""

    norm: float
    delta: np.ndarray


def minimal_targeted_perturbation(clf: CompressedClassifier, x: np.ndarray, target: np.ndarray) -> Perturbation:
    """Smallest ``δ`` with ``A·(x + δ) ∈ A·S_target``: norm ``‖P(target − x)‖ − r``, direction ``P(target − x)``.

    Returns a zero perturbation when ``A·x`` is already in the target ball.
    """
    w = (np.asarray(target, dtype=np.float64) - x) @ clf.basis
    dist = float(np.linalg.norm(w))
    norm = max(dist - clf.radius, 0.0)
    delta = clf.basis @ (w * (norm / dist)) if dist > 0 else np.zeros(clf.n)
    return Perturbation(norm, delta)


def minimal_untargeted_perturbation(
    clf: CompressedClassifier, x: np.ndarray, source: np.ndarray, rng: np.random.Generator | None = None
) -> Perturbation:
    """Smallest ``δ`` taking ``A·(x + δ)`` out of ``A·S_source``: norm ``r − ‖P(x − source)‖``, pushing
    ``P(x − source)`` radially outwards (a random row-space direction, from ``rng``, if ``P x = P source``)."""
    w = (np.asarray(x, dtype=np.float64) - source) @ clf.basis
    dist = float(np.linalg.norm(w))
    norm = max(clf.radius - dist, 0.0)
    if dist == 0:
        w = (rng or np.random.default_rng(0)).standard_normal(clf.m)
        dist = float(np.linalg.norm(w))
    return Perturbation(norm, clf.basis @ (w * (norm / dist)))


def projected_sphere_samples(n: int, m: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Row-space coordinates ``Qᵀo`` of ``samples`` directions ``o`` uniform on the unit sphere of R^N, for
    an orthonormal N × M basis ``Q``; shape (samples, M).

    Exact and O(samples·M): with ``g ~ N(0, I_N)``, ``Qᵀg ~ N(0, I_M)`` and ``‖g‖² = ‖Qᵀg‖² + χ²_{N−M}``.
    """
    u = rng.standard_normal((samples, m))
    rest = rng.chisquare(n - m, samples) if n > m else np.zeros(samples)
    return u / np.sqrt(np.sum(u * u, axis=1) + rest)[:, None]


def random_robust_radius(
    clf: CompressedClassifier,
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    confidence: float = 0.99,
    samples: int = 4000,
    rel_tol: float = 1e-4,
) -> float:
    """Largest ``l`` such that ``x + o`` keeps the decision of ``x`` with probability ≥ ``confidence`` when
    ``o`` is uniform on the sphere of radius ``l`` (Monte Carlo with common random numbers, bisection on ``l``).

    Raises
    ------
    BadInputError
        ``confidence`` outside (0, 1), or ``x`` is itself an erasure.
    """
    if not 0 < confidence < 1:
        raise BadInputError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(x, dtype=np.float64)
    label = int(clf.decide(x)[0])
    if label == NO_LABEL:
        raise BadInputError("x is not classified (it lies in no decision ball); pick x inside one")
    offsets = (x - clf.codewords) @ clf.basis  # P(x − c) in row-space coordinates, (K, M)
    directions = projected_sphere_samples(clf.n, clf.m, samples, rng)
    # ‖P(x + l·o − c)‖² = ‖P(x − c)‖² + 2l·(Po)·P(x − c) + l²‖Po‖², expanded once for all l.
    base = np.sum(offsets * offsets, axis=1)[None, :]
    cross = 2 * directions @ offsets.T
    square = np.sum(directions * directions, axis=1)[:, None]

    def keep_fraction(length: float) -> float:
        dist = np.sqrt(np.maximum(base + length * cross + length**2 * square, 0.0))
        return float(np.mean(clf._decide_from_distances(dist) == label))

    lo, hi = 0.0, max(float(np.sqrt(base.min())), clf.radius)
    while keep_fraction(hi) >= confidence:
        lo, hi = hi, 2 * hi
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if keep_fraction(mid) >= confidence else (lo, mid)
    return lo


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (B, D) and ``b`` (K, D), shape (B, K)."""
    sq = np.sum(a * a, axis=1)[:, None] - 2 * a @ b.T + np.sum(b * b, axis=1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0))
