"""Train the image models once, seeded, and cache them (keyed by the data, the settings and this code).

:func:`trained_classifier` trains :class:`~synthcheck.images.models.SmallCNN` with Adam on the 60k training
images; :func:`trained_generator` trains :class:`~synthcheck.images.models.ClassVAEs`, every step on a batch of
``per_class_batch`` images of each class. Both run on :data:`TRAINING_THREADS` torch threads whatever the
caller's count (float sums are split by thread, so another count trains other weights), draw every random
number from generators seeded by ``seed``, and store the weights (atomically) under
``cache_dir("images")`` as ``<kind>-<dataset>-<key>.pt`` with a JSON card beside them (settings, test
metrics, seconds, versions). The key hashes the dataset's fingerprint, the settings and the source of
:mod:`.models` and this module, so changed code or data never loads stale weights.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.errors import BadInputError
from synthcheck.experiments.executors import run_with_threads
from synthcheck.images import models
from synthcheck.images.data import ImageDataset, load_dataset
from synthcheck.images.models import N_PIXELS, ClassVAEs, SmallCNN

log = logging.getLogger(__name__)

#: Torch threads every model is trained on (the 2 cores of the machines synthcheck is measured on; the cached
#: weights, and so every image result, are then the same whichever command trains them first).
TRAINING_THREADS = 2

#: ``progress(what, done, total)`` as training steps complete.
TrainingProgress = Callable[[str, int, int], None]
M = TypeVar("M", bound=nn.Module)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise BadInputError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True)
class ClassifierTraining:
    """How the CNN is trained (part of its cache key)."""

    epochs: int = 4
    batch: int = 128
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(epochs=self.epochs, batch=self.batch, learning_rate=self.learning_rate)


@dataclass(frozen=True)
class GeneratorTraining:
    """How the per-class VAEs are trained (part of their cache key); ``latent`` is d of G(z, j), z ∈ R^d."""

    latent: int = 8
    steps: int = 3000
    per_class_batch: int = 64
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(latent=self.latent, steps=self.steps, per_class_batch=self.per_class_batch,
                        learning_rate=self.learning_rate)


@dataclass(frozen=True)
class ModelCard:
    """What a cached model was trained from and how well it does (the JSON beside its weights)."""

    kind: str
    dataset: str
    settings: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    torch_version: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trained_classifier(dataset: str, settings: ClassifierTraining = ClassifierTraining(),
                       progress: TrainingProgress | None = None) -> SmallCNN:
    """The CNN for ``dataset`` (``mnist``, ``fashion-mnist``): from the cache, or trained now (a minute or two)."""
    data = load_dataset(dataset)
    return _cached("classifier", data, settings, lambda: SmallCNN(len(data.classes)), _train_classifier, progress)


def trained_generator(dataset: str, settings: GeneratorTraining = GeneratorTraining(),
                      progress: TrainingProgress | None = None) -> ClassVAEs:
    """The per-class VAEs for ``dataset``: from the cache, or trained now (a minute or two)."""
    data = load_dataset(dataset)
    return _cached("generator", data, settings, lambda: ClassVAEs(len(data.classes), settings.latent),
                   _train_generator, progress)


def model_card(kind: str, dataset: str, settings: ClassifierTraining | GeneratorTraining) -> ModelCard | None:
    """The card of a cached model (None when it has not been trained yet)."""
    path = _weights_path(kind, load_dataset(dataset), settings).with_suffix(".json")
    return ModelCard(**json.loads(path.read_text())) if path.exists() else None


def classifier_accuracy(model: SmallCNN, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    """Fraction of ``images`` ``[n, 28, 28]`` that ``model`` classifies as ``labels``."""
    with torch.no_grad():
        predicted = np.concatenate([model(torch.from_numpy(np.asarray(chunk))).argmax(1).numpy()
                                    for chunk in np.array_split(images, max(1, len(images) // batch))])
    return float(np.mean(predicted == labels))


def _cached(kind: str, data: ImageDataset, settings: Any, build: Callable[[], M],
            train: Callable[[M, ImageDataset, Any, TrainingProgress], dict[str, float]],
            progress: TrainingProgress | None) -> M:
    path = _weights_path(kind, data, settings)
    if path.exists():
        model = build()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    with torch.random.fork_rng():  # layer initialisation draws from the global generator
        torch.manual_seed(settings.seed)
        model = build()
    log.info("training the %s for %s (%s)", kind, data.name, settings)
    started = time.perf_counter()
    report = progress or (lambda what, done, total: None)
    metrics = run_with_threads(lambda _: train(model, data, settings, report), TRAINING_THREADS, None)
    seconds = time.perf_counter() - started
    model.eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    card = ModelCard(kind, data.name, asdict(settings), metrics, seconds, torch.__version__, str(path))
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(card.to_dict(), indent=1).encode())
    log.info("trained the %s for %s in %.0f s: %s", kind, data.name, seconds, metrics)
    return model


def _weights_path(kind: str, data: ImageDataset, settings: Any) -> Path:
    code = Path(models.__file__).read_bytes() + Path(__file__).read_bytes()
    key = content_key(kind, data.fingerprint, json.dumps(asdict(settings), sort_keys=True), code)[:16]
    return cache_dir("images") / f"{kind}-{data.name}-{key}.pt"


def _train_classifier(model: SmallCNN, data: ImageDataset, settings: ClassifierTraining,
                      progress: TrainingProgress) -> dict[str, float]:
    generator = torch.Generator().manual_seed(settings.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    images, labels = torch.from_numpy(np.array(data.train.images)), torch.from_numpy(np.array(data.train.labels))
    per_epoch = -(-len(labels) // settings.batch)
    total, done = settings.epochs * per_epoch, 0
    model.train()
    for _ in range(settings.epochs):
        for batch in torch.randperm(len(labels), generator=generator).split(settings.batch):
            optimiser.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimiser.step()
            done += 1
            progress("classifier", done, total)
    model.eval()
    return {"test_accuracy": classifier_accuracy(model, data.test.images, data.test.labels)}


def _train_generator(model: ClassVAEs, data: ImageDataset, settings: GeneratorTraining,
                     progress: TrainingProgress) -> dict[str, float]:
    generator = torch.Generator().manual_seed(settings.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    by_class = [torch.from_numpy(np.array(data.train.images[data.train.labels == c])).reshape(-1, N_PIXELS)
                for c in range(model.n_classes)]
    model.train()
    for step in range(settings.steps):
        batch = torch.stack([images[torch.randint(len(images), (settings.per_class_batch,), generator=generator)]
                             for images in by_class])
        optimiser.zero_grad(set_to_none=True)
        model.negative_elbo(batch, generator).mean().backward()
        optimiser.step()
        progress("generator", step + 1, settings.steps)
    model.eval()
    return {"test_negative_elbo": _test_elbo(model, data, generator)}


def _test_elbo(model: ClassVAEs, data: ImageDataset, generator: torch.Generator, per_class: int = 500) -> float:
    """Mean negative ELBO (nats per image) of up to ``per_class`` test images of each class under its own VAE."""
    with torch.no_grad():
        values = [model.negative_elbo(torch.from_numpy(np.array(data.test.images[data.test.labels == c][:per_class]))
                                      .reshape(1, -1, N_PIXELS).expand(model.n_classes, -1, -1), generator)[c]
                  for c in range(model.n_classes)]
    return float(torch.cat(values).mean())
