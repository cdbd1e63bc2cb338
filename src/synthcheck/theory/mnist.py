"""A small MNIST MLP for the fragility measurements (trained in seconds, weights cached).

Data: :func:`synthcheck.images.data.load_dataset` ``("mnist")``, flattened to ``[n, 784]``; the MLP trains on the
first ``train_items`` training images and is scored on the 10k test images.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.images.data import ImageSplit, load_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MnistTraining:
    """How the MLP is trained (part of its cache key)."""

    hidden: int = 128
    train_items: int = 20_000
    epochs: int = 1
    batch: int = 64
    learning_rate: float = 1e-3
    seed: int = 0


def flattened(split: ImageSplit) -> tuple[np.ndarray, np.ndarray]:
    """A split's images as ``[n, 784]`` (read-only, float32 in [0, 1]) and its labels ``[n]``."""
    return split.images.reshape(len(split), -1), split.labels


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
        predicted = model(torch.from_numpy(np.array(images, np.float32))).argmax(dim=1).numpy()
    return float(np.mean(predicted == labels))


def trained_mnist_mlp(config: MnistTraining = MnistTraining()) -> MnistMLP:
    """The MLP trained per ``config``, from the cache (``cache_dir("theory")``) or trained now (seconds)."""
    path = cache_dir("theory") / f"mnist_mlp_{content_key(json.dumps(asdict(config), sort_keys=True))}.pt"
    model = MnistMLP(config.hidden)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    mnist = load_dataset("mnist")
    (train_x, train_y), (test_x, test_y) = flattened(mnist.train), flattened(mnist.test)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng():  # nn.Linear's initialisation draws from the global generator
        torch.manual_seed(config.seed)
        model = MnistMLP(config.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    images = torch.from_numpy(np.array(train_x[: config.train_items]))
    labels = torch.from_numpy(np.array(train_y[: config.train_items]))
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
