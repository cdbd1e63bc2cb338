"""The image datasets come from installed packages, with the shapes, ranges and classes they should have."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.errors import BadInputError, MissingComponentError
from synthcheck.images.data import IMAGE_DATASETS, load_dataset
from synthcheck.images.io import load_image, save_png, validate_image


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_dataset_has_the_standard_split(name: str) -> None:
    data = load_dataset(name)
    assert (len(data.train), len(data.test)) == (60_000, 10_000)
    for split in (data.train, data.test):
        assert split.images.shape[1:] == (28, 28) and split.images.dtype == np.float32
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        # every class is present in roughly equal numbers (MNIST's rarest class has 5421 training images)
        counts = np.bincount(split.labels, minlength=10)
        assert counts.size == 10 and counts.min() > 0.08 * len(split)
    assert not data.train.images.flags.writeable
    assert len(data.classes) == 10 and data.n_pixels == 784


def test_datasets_differ_and_fingerprints_are_stable() -> None:
    mnist, fashion = load_dataset("mnist"), load_dataset("fashion-mnist")
    assert mnist.fingerprint != fashion.fingerprint
    assert mnist.classes[3] == "3" and fashion.classes[9] == "Ankle boot"
    # MNIST digits are mostly black background; Fashion-MNIST items cover far more of the frame
    assert np.mean(mnist.test.images > 0.1) < 0.25 < np.mean(fashion.test.images > 0.1)


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(BadInputError, match="mnist, fashion-mnist"):
        load_dataset("cifar10")
    assert IMAGE_DATASETS.names == ("mnist", "fashion-mnist")


def test_missing_fashion_files_say_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYNTHCHECK_FASHION_MNIST", str(tmp_path))
    load_dataset.cache_clear()
    try:
        with pytest.raises(MissingComponentError, match="dataset-fashion-mnist"):
            load_dataset("fashion-mnist")
    finally:
        load_dataset.cache_clear()


def test_png_round_trip_and_bad_files(tmp_path) -> None:
    from PIL import Image

    image = load_dataset("mnist").test.images[0]
    path = save_png(tmp_path / "digit.png", image)
    assert np.max(np.abs(load_image(path) - image)) <= 0.5 / 255 + 1e-7
    np.save(tmp_path / "digit.npy", image)
    assert np.array_equal(load_image(tmp_path / "digit.npy"), image)

    Image.new("RGB", (28, 28)).save(tmp_path / "colour.png")
    Image.new("L", (32, 32)).save(tmp_path / "big.png")
    (tmp_path / "text.png").write_text("not an image")
    np.save(tmp_path / "nan.npy", np.full((28, 28), np.nan))
    np.save(tmp_path / "range.npy", np.full((28, 28), 255.0))
    for name, message in [("colour.png", "RGB image"), ("big.png", "32x32"), ("text.png", "not an image"),
                          ("nan.npy", "NaN"), ("range.npy", r"\[0, 1\]"), ("missing.png", "no such file")]:
        with pytest.raises(BadInputError, match=message):
            load_image(tmp_path / name)
    with pytest.raises(BadInputError, match="28x28"):
        validate_image(np.zeros(100))
