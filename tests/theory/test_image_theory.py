"""Theorem 2 on the image domain's trained CNNs: the targets, the seeded survey over test images, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.theory.applied import CNN_MODELS, FRAGILITY_MODELS, fragility_survey, fragility_target
from synthcheck.theory.fragility import fragility


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name,m", [("cnn-mnist-logits", 10), ("cnn-mnist-penultimate", 128),
                                    pytest.param("cnn-fashion-mnist-logits", 10, marks=pytest.mark.slow),
                                    pytest.param("cnn-fashion-mnist-penultimate", 128, marks=pytest.mark.slow)])
def test_cnn_is_fragile_beyond_the_bound(name, m):
    assert set(CNN_MODELS) <= set(FRAGILITY_MODELS)
    target = fragility_target(name, seed=4)
    assert target.x.shape == (784,) and 0 <= float(target.x.min()) and float(target.x.max()) <= 1
    report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(5), samples=32, fd_steps=(1e-3,))
    assert (report.n, report.m) == (784, m) and report.converged
    assert report.ratio - 3 * report.ratio_stderr > report.sqrt_n_over_m
    # α/E β from finite differences is a lower bound on the worst-case ratio; it clears the bound as well
    assert report.fd_check[0].fd_ratio > report.sqrt_n_over_m


def test_jacobian_agrees_with_finite_differences_where_the_cnn_is_differentiable():
    """At an MNIST image many max-pool windows tie (the black background), where the CNN has no Jacobian; a tiny
    jitter breaks the ties, and there the JVP ratio and finite differences agree."""
    target = fragility_target("cnn-mnist-logits", seed=4)
    jitter = 1e-3 * torch.randn(target.x.shape, generator=torch.Generator().manual_seed(0))
    at_tie, generic = (fragility(target.h, x, generator=torch.Generator().manual_seed(5), samples=32,
                                 fd_steps=(1e-4,)) for x in (target.x, target.x + jitter))
    assert generic.fd_check[0].rel_diff < 0.05
    assert at_tie.fd_check[0].rel_diff > 2 * generic.fd_check[0].rel_diff


def test_survey_is_seeded_and_summarises_its_points():
    args = dict(points=2, samples=16, fd_steps=(1e-3,))
    first = fragility_survey("cnn-mnist-logits", seed=2, **args)
    again = fragility_survey("cnn-mnist-logits", seed=2, **args)
    other = fragility_survey("cnn-mnist-logits", seed=3, **args)
    assert first.ratios.tolist() == again.ratios.tolist() and first.descriptions == again.descriptions
    assert first.ratios.tolist() != other.ratios.tolist()
    low, high = first.ratio_quartiles
    assert first.ratios.min() <= low <= first.median_ratio <= high <= first.ratios.max()
    assert first.sqrt_n_over_m == pytest.approx(784**0.5 / 10**0.5) and first.expected_ratio is None
    assert len(first.fd_ratios) == len(first.fd_rel_diffs) == 2
    with pytest.raises(BadInputError, match="at least one point"):
        fragility_survey("gaussian", points=0)


def test_fragility_cli_survey_text_and_json(capsys):
    args = ("theory", "fragility", "--model", "cnn-mnist-penultimate", "--points", "2", "--samples", "8",
            "--fd-steps", "1e-3")
    code, out, _ = run(capsys, *args)
    text = " ".join(out.split())  # rich wraps lines at the terminal width
    assert code == 0
    assert "median ratio" in text and "quartiles" in text and "2/2 above sqrt(N/M) = 2.475" in text
    code, out, _ = run(capsys, *args, "--json")
    survey = json.loads(out)
    ratios = [report["ratio"] for report in survey["reports"]]
    assert code == 0 and survey["points"] == 2 and len(ratios) == 2
    assert min(ratios) <= survey["median_ratio"] <= max(ratios)
    assert all(report["m"] == 128 for report in survey["reports"])


def test_radii_cli_renders_and_rejects_bad_input(capsys):
    code, out, _ = run(capsys, "theory", "radii", "--images", "2", "--directions", "3", "--attack-steps", "20")
    text = " ".join(out.split())
    assert code == 0
    assert "noise, clipped" in text and "adversarial" in text and "8.85 (M = 10 logits)" in text
    code, _, err = run(capsys, "theory", "radii", "--images", "0")
    assert code == 2 and "between 1 and 10000" in err and len(err.strip().splitlines()) == 1
