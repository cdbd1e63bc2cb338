"""Noise versus adversarial radii of the trained CNNs: real models, real test images, small search budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthcheck.errors import BadInputError
from synthcheck.images.classifier import image_classifier
from synthcheck.images.data import load_dataset
from synthcheck.images.robustness import (
    RadiusSearch,
    image_radii,
    noise_directions,
    quartiles,
    radii_of_test_images,
)

SMALL = RadiusSearch(directions=5, levels=16, bisections=7, attack_steps=50)


@pytest.fixture(scope="module", params=["mnist", pytest.param("fashion-mnist", marks=pytest.mark.slow)])
def summary(request):
    return radii_of_test_images(request.param, 3, seed=11, settings=SMALL)


def test_noise_radius_exceeds_the_adversarial_radius(summary) -> None:
    assert summary.classifier.startswith("cnn-") and len(summary.items) == 3
    assert len({item.index for item in summary.items}) == 3
    for item in summary.items:
        # inf: noise up to norm 100 never changes the decision (Fashion-MNIST's bags, say), a radius beyond the grid
        assert 0 < item.adversarial < min(item.noise.radius, item.noise_unclipped.radius)
        assert item.ratio > 1 and item.ratio_unclipped > 1
        assert len(item.noise.per_direction) == SMALL.directions
        finite = [r for r in item.noise.per_direction if math.isfinite(r)]
        assert len(finite) == round(item.noise.flipped * SMALL.directions)
        # clipping only shortens the noise: the clipped norm at any t is at most t
        assert all(0 < r <= SMALL.largest for r in finite)
    assert sum(math.isfinite(item.noise.radius) for item in summary.items) >= 2
    low, median, high = quartiles(summary.ratio)
    assert 1 < low <= median <= high


def test_unclipped_radius_is_where_the_decision_changes(summary) -> None:
    classifier = image_classifier(summary.classifier.removeprefix("cnn-"))
    test = load_dataset(summary.classifier.removeprefix("cnn-")).test
    checked = 0
    for item in summary.items:
        x = torch.from_numpy(np.array(test.images[item.index]).reshape(1, -1))
        directions = noise_directions(summary.seed, item.index, SMALL.directions)
        radii = torch.tensor(item.noise_unclipped.per_direction, dtype=torch.float32).unsqueeze(1)
        flipped = torch.isfinite(radii).flatten()
        directions, radii = directions[flipped], radii[flipped]
        checked += len(radii)
        with torch.no_grad():
            at = classifier.logits(x + radii * directions).argmax(1)
            below = classifier.logits(x + 0.97 * radii * directions).argmax(1)
        assert (at != item.decision).all()
        assert (below == item.decision).sum() >= 0.8 * len(radii)  # the first flip, not a later one
    assert checked >= SMALL.directions


def test_results_are_seeded_and_independent_of_the_batch() -> None:
    classifier = image_classifier("mnist")
    test = load_dataset("mnist").test
    ids = [7, 42, 4242]
    first = image_radii(classifier, test.images[ids], test.labels[ids], seed=3, ids=ids, settings=SMALL)
    again = image_radii(classifier, test.images[ids[1:]], test.labels[ids[1:]], seed=3, ids=ids[1:], settings=SMALL)
    other = image_radii(classifier, test.images[ids[1:]], test.labels[ids[1:]], seed=4, ids=ids[1:], settings=SMALL)
    for a, b, c in zip(first[1:], again, other):
        assert a.noise == b.noise and a.noise_unclipped == b.noise_unclipped
        assert a.adversarial == pytest.approx(b.adversarial, rel=1e-4)
        assert a.noise.per_direction != c.noise.per_direction
    assert [item.index for item in first] == ids and [item.label for item in first] == test.labels[ids].tolist()


def test_summary_serialises_to_strict_json() -> None:
    import json

    summary = radii_of_test_images("mnist", 1, seed=0, settings=RadiusSearch(directions=2, levels=8, bisections=2,
                                                                           attack_steps=10))
    data = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert data["images"] == 1 and data["sqrt_n_over_m"]["10"] == pytest.approx(math.sqrt(78.4))
    assert data["quartiles"]["ratio"][1] == pytest.approx(summary.items[0].ratio)


def test_bad_input_says_what_is_wrong() -> None:
    classifier = image_classifier("mnist")
    image = np.array(load_dataset("mnist").test.images[:1])
    cases = [
        (lambda: image_radii(classifier, np.zeros((1, 20)), [0]), "28x28"),
        (lambda: image_radii(classifier, np.zeros((0, 28, 28)), []), "non-empty"),
        (lambda: image_radii(classifier, image * 255, [7]), r"\[0, 1\]"),
        (lambda: image_radii(classifier, np.full((1, 784), np.nan), [7]), "finite"),
        (lambda: image_radii(classifier, image, [7, 1]), "one label"),
        (lambda: RadiusSearch(directions=0), "directions"),
        (lambda: RadiusSearch(smallest=5.0, largest=1.0), "smallest < largest"),
        (lambda: radii_of_test_images("mnist", 0), "between 1 and 10000"),
        (lambda: radii_of_test_images("cifar10", 2), "unknown image dataset"),
    ]
    for call, message in cases:
        with pytest.raises(BadInputError, match=message):
            call()
