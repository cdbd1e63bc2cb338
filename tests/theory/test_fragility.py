"""Theorem 2: matrix-free σ_max and E‖J·o‖ against exact linear algebra, the Gaussian value, MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from synthcheck.errors import BadInputError
from synthcheck.theory.applied import fragility_target
from synthcheck.theory.fragility import fragility, gaussian_ratio, top_singular_pair


def _tanh_mlp(n: int, m: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(64, n, generator=g, dtype=torch.float64) / math.sqrt(n)
    w2 = torch.randn(m, 64, generator=g, dtype=torch.float64) / 8
    return lambda xs: torch.tanh(xs @ w1.T) @ w2.T, torch.randn(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("n,m", [(30, 5), (50, 50), (200, 3)])
def test_power_iteration_matches_exact_svd(n, m):
    h, x = _tanh_mlp(n, m, n + m)
    jacobian = torch.autograd.functional.jacobian(lambda v: h(v.unsqueeze(0))[0], x)
    exact = torch.linalg.svdvals(jacobian)
    report = fragility(h, x, generator=torch.Generator().manual_seed(0), iters=500, rel_tol=1e-10, samples=4000, batch=1000)
    assert report.sigma_max == pytest.approx(float(exact[0]), rel=1e-4)
    assert report.sigma_max <= float(exact[0]) * (1 + 1e-9)  # the estimate is a lower bound
    assert all(b >= a * (1 - 1e-9) for a, b in zip(report.sigma_history, report.sigma_history[1:]))
    # E‖J·o‖ ≤ ‖J‖_F / sqrt(N), and Monte Carlo lands near it.
    frobenius = float(jacobian.norm()) / math.sqrt(n)
    assert report.mean_jo <= frobenius * (1 + 3 * report.mean_jo_stderr / report.mean_jo)
    assert report.mean_jo == pytest.approx(frobenius, rel=0.15)
    assert report.ratio >= report.sqrt_n_over_m * (1 - 3 * report.ratio_stderr / report.ratio)


def test_top_singular_pair_returns_the_top_right_vector():
    g = torch.Generator().manual_seed(1)
    matrix = torch.randn(8, 20, generator=g, dtype=torch.float64)
    sigma, v, _ = top_singular_pair(lambda u: matrix @ u, lambda w: matrix.T @ w, torch.randn(20, generator=g, dtype=torch.float64),
                                    iters=2000, rel_tol=1e-14)
    _, s, vh = torch.linalg.svd(matrix)
    assert sigma == pytest.approx(float(s[0]), rel=1e-8)
    assert abs(float(v @ vh[0])) == pytest.approx(1.0, abs=1e-6)


def test_gaussian_ratio_lands_near_its_large_n_value():
    target = fragility_target("gaussian", n=3000, m=150, seed=3)
    report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(4), iters=400, rel_tol=1e-6, samples=1000, batch=1000)
    assert target.expected_ratio == gaussian_ratio(3000, 150) == pytest.approx(1 + math.sqrt(20))
    assert report.ratio == pytest.approx(target.expected_ratio, rel=0.03)
    assert report.ratio > report.sqrt_n_plus_m_over_m > report.sqrt_n_over_m


def test_finite_differences_agree_with_jvps_for_small_steps():
    h, x = _tanh_mlp(100, 10, 5)
    report = fragility(h, x, generator=torch.Generator().manual_seed(0), iters=200, rel_tol=1e-9, samples=32, fd_steps=(1.0, 1e-5))
    coarse, fine = report.fd_check
    assert fine.rel_diff < 1e-3
    assert coarse.rel_diff > 10 * fine.rel_diff  # tanh saturates: large steps leave the linear regime


def test_counts_and_bad_inputs():
    h, x = _tanh_mlp(20, 4, 0)
    report = fragility(h, x, generator=torch.Generator().manual_seed(0), iters=5, rel_tol=0.0, samples=10, batch=4, fd_steps=())
    assert (report.iterations, report.n_vjp, report.n_jvp) == (5, 5, 5 + 10)
    assert report.fd_check == () and not report.converged
    with pytest.raises(BadInputError, match="NaN"):
        fragility(h, torch.full((20,), float("nan"), dtype=torch.float64), generator=torch.Generator())
    with pytest.raises(BadInputError, match="unknown fragility model"):
        fragility_target("resnet")
    with pytest.raises(BadInputError, match="--audio"):
        fragility_target("whisper-tiny.en")


@pytest.mark.parametrize("name,m", [("mnist-logits", 10), ("mnist-penultimate", 128)])
def test_mnist_mlp_is_fragile_beyond_the_bound(name, m):
    from synthcheck.images.data import load_dataset
    from synthcheck.theory.mnist import accuracy, flattened, trained_mnist_mlp

    images, labels = flattened(load_dataset("mnist").test)
    assert accuracy(trained_mnist_mlp(), images[:2000], labels[:2000]) > 0.85
    target = fragility_target(name, seed=1)
    report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(2), iters=50, samples=64)
    assert (report.n, report.m) == (784, m)
    assert report.converged
    assert report.ratio - 3 * report.ratio_stderr > report.sqrt_n_over_m
    assert report.fd_check[-1].rel_diff < 0.05  # ReLU net: piecewise linear, small steps stay on one piece
