"""The latent search c_j(y) = argmin_z ‖y − G(z, j)‖ with the real trained per-class VAEs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.errors import BadInputError
from synthcheck.images.data import load_dataset
from synthcheck.images.decompress import LatentSearch, SearchSettings, image_generator, residual_distances

#: Test images used here (after the detectors' calibration images).
IMAGES = slice(2000, 2200)


@pytest.mark.parametrize(("dataset", "minimum"), [("mnist", 0.95), pytest.param("fashion-mnist", 0.78, marks=pytest.mark.slow)])
def test_clean_images_are_nearest_their_own_class(dataset: str, minimum: float) -> None:
    # measured at the default search on these 200 images: 0.98 (MNIST), 0.85 (Fashion-MNIST)
    data = load_dataset(dataset)
    images, labels = data.test.images[IMAGES], data.test.labels[IMAGES]
    search = LatentSearch(image_generator(dataset))
    found = search.search(images)
    assert found.codewords.shape == (200, 10, 784) and found.latents.shape == (200, 10, 8) and len(found) == 200
    assert np.mean(found.distances.argmin(1) == labels) >= minimum
    # the distances are those of the codewords, which lie in the generator's range and come from the ball
    recomputed = residual_distances(torch.from_numpy(np.array(images).reshape(200, 1, 784)), torch.from_numpy(found.codewords))
    np.testing.assert_allclose(found.distances, recomputed.numpy(), rtol=1e-5)
    assert 0.0 < found.codewords.min() and found.codewords.max() < 1.0
    assert np.linalg.norm(found.latents, axis=-1).max() <= search.settings.radius * (1 + 1e-5)


def test_descent_improves_on_the_starts() -> None:
    images = load_dataset("mnist").test.images[IMAGES][:50]
    generator = image_generator("mnist")
    starts = LatentSearch(generator, SearchSettings(steps=0)).search(images).distances
    searched = LatentSearch(generator, SearchSettings(steps=20)).search(images).distances
    assert np.mean(searched <= starts + 1e-5) > 0.95
    assert np.mean(starts - searched) > 0.05  # the descent moves the codewords nearer, not just within rounding


def test_search_is_deterministic_per_seed_and_the_bank_matters() -> None:
    images = load_dataset("mnist").test.images[IMAGES][:20]
    generator = image_generator("mnist")
    settings = SearchSettings(restarts=4, steps=5, bank=200)
    first, again = (LatentSearch(generator, settings).search(images) for _ in range(2))
    np.testing.assert_array_equal(first.latents, again.latents)
    np.testing.assert_array_equal(first.distances, again.distances)
    other = LatentSearch(generator, SearchSettings(restarts=4, steps=5, bank=200, seed=1)).search(images)
    assert not np.array_equal(first.latents, other.latents)


def test_an_image_alone_gets_the_answer_it_gets_in_a_batch() -> None:
    images = load_dataset("mnist").test.images[IMAGES][:30]
    search = LatentSearch(image_generator("mnist"), SearchSettings(restarts=3, bank=300))
    batch = search.search(images)
    for i in (0, 17, 29):
        alone = search.search(images[i : i + 1])
        # batched matrix products may round differently; the restarts chosen and the optimum are the same
        np.testing.assert_allclose(alone.distances[0], batch.distances[i], atol=1e-4)
        np.testing.assert_allclose(alone.latents[0], batch.latents[i], atol=1e-3)


def test_random_starts_are_a_secret_function_of_seed_and_image() -> None:
    images = np.array(load_dataset("mnist").test.images[IMAGES][:12])
    generator = image_generator("mnist")
    settings = SearchSettings(restarts=3, steps=5, random_starts=True, seed=11)
    search = LatentSearch(generator, settings)
    first = search.search(images)
    # the same image under the same secret: the same answer, alone, in another batch, or from a new search
    np.testing.assert_array_equal(first.latents, LatentSearch(generator, settings).search(images).latents)
    alone = search.search(images[5:6])
    np.testing.assert_allclose(alone.latents[0], first.latents[5], atol=1e-3)
    # another secret, or the image moved by one 8-bit step in one pixel: other starts, other latents
    other = LatentSearch(generator, SearchSettings(restarts=3, steps=5, random_starts=True, seed=12)).search(images)
    assert np.abs(other.latents - first.latents).max(axis=(1, 2)).min() > 1e-2
    nudged = images.copy()
    nudged[:, 14, 14] = np.clip(nudged[:, 14, 14] + 1 / 255, 0, 1)
    moved = search.search(nudged)
    assert np.abs(moved.latents - first.latents).max(axis=(1, 2)).min() > 1e-2
    # no encoder start: the random search begins away from the deterministic search's answer
    deterministic = LatentSearch(generator, SearchSettings(steps=5)).search(images)
    assert not np.allclose(first.latents, deterministic.latents, atol=1e-2)


def test_torch_input_of_either_shape_is_accepted() -> None:
    images = load_dataset("mnist").test.images[IMAGES][:3]
    search = LatentSearch(image_generator("mnist"), SearchSettings(steps=2))
    flat = search.search(torch.from_numpy(images.reshape(3, 784)))
    np.testing.assert_array_equal(flat.distances, search.search(images).distances)


@pytest.mark.parametrize(("images", "message"), [
    (np.zeros((0, 28, 28)), "n >= 1"),
    (np.zeros(784), "batch"),
    (np.zeros((2, 27, 28)), r"images\[0\]: expected a 28x28"),
    (np.stack([np.zeros((28, 28)), np.full((28, 28), np.nan)]), r"images\[1\]: contains NaN"),
    (np.full((1, 784), 1.5), r"pixel values must be in \[0, 1\]"),
    (np.array([["a"] * 784]), "expected numbers"),
])
def test_bad_images_are_refused(images: np.ndarray, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        LatentSearch(image_generator("mnist")).search(images)


@pytest.mark.parametrize(("settings", "message"), [
    ({"restarts": 0}, "restarts"), ({"steps": -1}, "steps"), ({"restarts": 5, "bank": 3}, "bank"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"radius": float("nan")}, "radius"),
])
def test_bad_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        SearchSettings(**settings)
