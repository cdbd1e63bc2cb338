"""Theorem 1: closed forms against a generic optimiser, exact flips, random radius, Theorem 1.3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from synthcheck.errors import BadInputError
from synthcheck.theory.linear import (
    NO_LABEL,
    CompressedClassifier,
    minimal_targeted_perturbation,
    minimal_untargeted_perturbation,
    projected_sphere_samples,
    random_robust_radius,
)
from synthcheck.theory.linear_bounds import linear_theory, projected_norm_mean
from synthcheck.theory.linear_experiment import linear_sweep, random_unit, theorem_1_3_check


def _instance(n: int, m: int, seed: int, offset: float = 0.4, distance: float = 6.0):
    rng = np.random.default_rng(seed)
    c1 = rng.standard_normal(n)
    x = c1 + offset * random_unit(n, rng)
    c2 = x + distance * random_unit(n, rng)
    clf = CompressedClassifier.gaussian(m, np.stack([c1, c2]), np.array([0, 1]), 1.0, rng)
    return clf, x, c1, c2, rng


def test_projector_is_pinv_a_times_a():
    clf, *_ = _instance(12, 5, 0)
    np.testing.assert_allclose(clf.projector(), np.linalg.pinv(clf.a) @ clf.a, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_decision_rule_matches_constrained_optimiser(seed):
    # A·y ∈ A·S_c  ⟺  min {‖s − c‖ : A s = A y} < r, and that minimum is ‖P(y − c)‖.
    clf, x, _, _, rng = _instance(8, 3, seed)
    y = x + rng.standard_normal(8)
    for k, c in enumerate(clf.codewords):
        result = minimize(lambda s: np.sum((s - c) ** 2), y, jac=lambda s: 2 * (s - c), method="SLSQP",
                          constraints=[{"type": "eq", "fun": lambda s: clf.a @ (s - y), "jac": lambda s: clf.a}],
                          options={"ftol": 1e-12, "maxiter": 500})
        assert result.success
        assert np.sqrt(result.fun) == pytest.approx(clf.compressed_distances(y)[0, k], rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_minimal_targeted_matches_constrained_optimiser(seed):
    clf, x, _, c2, rng = _instance(8, 3, seed)
    p = clf.projector()
    result = minimize(lambda d: d @ d, rng.standard_normal(8), jac=lambda d: 2 * d, method="SLSQP",
                      constraints=[{"type": "ineq", "fun": lambda d: clf.radius**2 - np.sum((p @ (x + d - c2)) ** 2),
                                    "jac": lambda d: -2 * p @ (x + d - c2)}],
                      options={"ftol": 1e-12, "maxiter": 1000})
    assert result.success
    closed = minimal_targeted_perturbation(clf, x, c2)
    assert np.sqrt(result.fun) == pytest.approx(closed.norm, rel=1e-4)
    assert np.linalg.norm(closed.delta) == pytest.approx(closed.norm, rel=1e-12)
    assert closed.norm == pytest.approx(np.linalg.norm(p @ (c2 - x)) - clf.radius, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_minimal_untargeted_matches_constrained_optimiser(seed):
    clf, x, c1, _, rng = _instance(8, 3, seed)
    p = clf.projector()
    best = np.inf
    for _ in range(5):  # the feasible set (outside a cylinder) is not convex: several starts
        result = minimize(lambda d: d @ d, rng.standard_normal(8), jac=lambda d: 2 * d, method="SLSQP",
                          constraints=[{"type": "ineq", "fun": lambda d: np.sum((p @ (x + d - c1)) ** 2) - clf.radius**2,
                                        "jac": lambda d: 2 * p @ (x + d - c1)}],
                          options={"ftol": 1e-12, "maxiter": 1000})
        if result.success:
            best = min(best, np.sqrt(result.fun))
    assert best == pytest.approx(minimal_untargeted_perturbation(clf, x, c1).norm, rel=1e-4)


@pytest.mark.parametrize("n,m", [(200, 20), (200, 200), (50, 1)])
def test_decision_flips_exactly_at_the_minimal_perturbation(n, m):
    tested = 0
    for seed in range(8):
        clf, x, c1, c2, _ = _instance(n, m, seed, distance=30.0)
        if clf.decide(x)[0] != 0 or clf.compressed_distances(c1)[0, 1] < 2 * clf.radius:
            continue  # x misclassified, or the two compressed balls overlap (then the nearer one decides)
        tested += 1
        targeted = minimal_targeted_perturbation(clf, x, c2).delta
        assert clf.decide(x + targeted * (1 + 1e-6))[0] == 1
        assert clf.decide(x + targeted * (1 - 1e-3))[0] != 1  # it may leave S_1 on the way, but not reach c_2
        untargeted = minimal_untargeted_perturbation(clf, x, c1).delta
        assert clf.decide(x + untargeted * (1 + 1e-6))[0] == NO_LABEL
        assert clf.decide(x + untargeted * (1 - 1e-3))[0] == 0
    assert tested >= 3


def test_projected_sphere_samples_follow_the_beta_law():
    rng = np.random.default_rng(1)
    n, m = 300, 30
    fast = np.sum(projected_sphere_samples(n, m, 20000, rng) ** 2, axis=1)
    direct = rng.standard_normal((20000, n))
    direct = np.sum((direct / np.linalg.norm(direct, axis=1, keepdims=True))[:, :m] ** 2, axis=1)
    for sample in (fast, direct):  # Beta(M/2, (N-M)/2): mean M/N, variance 2M(N-M)/(N²(N+2))
        assert sample.mean() == pytest.approx(m / n, rel=0.01)
        assert sample.var() == pytest.approx(2 * m * (n - m) / (n**2 * (n + 2)), rel=0.05)


def _exact_radius_quantile(clf, x, c1, confidence, samples, rng):
    """Per-direction exact break-down length (‖a + l·Po‖ = r solved for l), then its (1 − confidence) quantile."""
    o = rng.standard_normal((samples, clf.n))
    o /= np.linalg.norm(o, axis=1, keepdims=True)
    w = o @ clf.basis
    a = (x - c1) @ clf.basis
    aw, ww = w @ a, np.sum(w * w, axis=1)
    lengths = (-aw + np.sqrt(aw**2 + ww * (clf.radius**2 - a @ a))) / ww
    return np.quantile(lengths, 1 - confidence)


@pytest.mark.parametrize("m", [5, 40, 400])
def test_random_radius_matches_exact_quantile_and_theorem_bounds(m):
    clf, x, c1, _, rng = _instance(400, m, 2, distance=200.0)
    measured = random_robust_radius(clf, x, rng, confidence=0.95, samples=20000)
    exact = _exact_radius_quantile(clf, x, c1, 0.95, 20000, rng)
    assert measured == pytest.approx(exact, rel=0.03)
    rho = np.linalg.norm((x - c1) @ clf.basis)
    theory = linear_theory(400, m, radius=1.0, offset=rho, distance=1.0, confidence=0.95)
    assert theory.random_radius_low * 0.97 <= measured <= theory.random_radius_low * (1 + rho) / (1 - rho) * 1.03


def test_kappa_is_the_mean_projected_norm():
    rng = np.random.default_rng(3)
    norms = np.linalg.norm(projected_sphere_samples(1000, 10, 50000, rng), axis=1)
    assert norms.mean() == pytest.approx(projected_norm_mean(1000, 10), rel=0.005)
    assert projected_norm_mean(1000, 1000) == 1.0


def _codebook(n, rng):
    """Three labels, four codewords each, spread around three centres far apart."""
    centres = 12.0 * np.stack([random_unit(n, rng) for _ in range(3)])
    codewords = np.concatenate([c + 3.0 * rng.standard_normal((4, n)) / np.sqrt(n) for c in centres])
    return codewords, np.repeat(np.arange(3), 4)


@pytest.mark.parametrize("m", [5, 20, 60])
def test_theorem_1_3_flags_every_sub_bound_attack(m):
    rng = np.random.default_rng(m)
    n = 120
    codewords, labels = _codebook(n, rng)
    clf = CompressedClassifier.gaussian(m, codewords, labels, 1.0, rng)
    x = codewords[0] + 0.3 * random_unit(n, rng)
    assert clf.decide(x)[0] == 0
    check = theorem_1_3_check(clf, x, rng, attacks=300)
    assert check.sub_bound > 100  # the compressed classifier really is fooled below the bound...
    assert check.holds  # ...and every such attack is flagged
    assert not clf.consistency_flags(codewords[5])[0]  # control: a clean codeword of label 1 is not flagged


def test_uncompressed_baseline_has_no_sub_bound_attacks():
    rng = np.random.default_rng(7)
    codewords, labels = _codebook(60, rng)
    clf = CompressedClassifier.uncompressed(codewords, labels, 1.0)
    x = codewords[0] + 0.3 * random_unit(60, rng)
    assert minimal_targeted_perturbation(clf, x, codewords[4]).norm == pytest.approx(np.linalg.norm(codewords[4] - x) - 1.0)
    check = theorem_1_3_check(clf, x, rng, attacks=100)
    assert check.successful > 50 and check.sub_bound == 0


def test_linear_sweep_rows_respect_the_theorem():
    rows = linear_sweep(200, [10, 50, 200], trials=3, seed=1, samples=2000, distance=30.0)
    assert [(r.classifier, r.m) for r in rows] == [("compressed", 10), ("compressed", 50), ("compressed", 200), ("uncompressed", 200)]
    for row in rows:
        assert row.ratio_min >= row.theory.ratio_low * 0.97
        assert row.theory.adv_targeted_low <= row.adv_targeted <= row.theory.adv_targeted_high
        assert row.theorem_1_3.holds
    assert rows[0].ratio > 2 * rows[2].ratio  # compression buys random robustness
    assert rows[2].adv_targeted == pytest.approx(rows[3].adv_targeted)  # M = N is the uncompressed decoder


def test_bad_inputs_raise_one_line_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(BadInputError, match="M must be"):
        CompressedClassifier.gaussian(11, np.zeros((1, 10)), np.array([0]), 1.0, rng)
    with pytest.raises(BadInputError, match="offset"):
        linear_theory(10, 5, radius=1.0, offset=1.5, distance=3.0)
    with pytest.raises(BadInputError, match="full row rank"):
        CompressedClassifier(np.ones((2, 5)), np.zeros((1, 5)), np.array([0]), 1.0)
    clf = CompressedClassifier.uncompressed(np.zeros((1, 5)), np.array([0]), 1.0)
    with pytest.raises(BadInputError, match="not classified"):
        random_robust_radius(clf, np.full(5, 3.0), rng)
