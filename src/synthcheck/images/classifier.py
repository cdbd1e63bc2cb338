"""The protected image classifier as the rest of synthcheck sees it: a named, differentiable model.

:class:`ImageClassifier` wraps a trained :class:`~synthcheck.images.models.SmallCNN` with its dataset's class
names; :func:`image_classifier` returns the (per-process cached) one of a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from synthcheck.images.data import IMAGE_DATASETS
from synthcheck.images.models import SmallCNN
from synthcheck.images.training import ClassifierTraining, TrainingProgress, trained_classifier


@dataclass(frozen=True, eq=False)
class ImageClassifier:
    """A trained classifier of 28×28 images in [0, 1] with the names of its classes.

    Attributes
    ----------
    name
        ``cnn-<dataset>`` (stored with results).
    model
        The network (eval mode, weights frozen).
    classes
        Class names, index = label.
    """

    name: str
    model: SmallCNN
    classes: tuple[str, ...]

    def logits(self, images: Tensor) -> Tensor:
        """Logits ``[B, C]`` of images ``[B, 784]``, ``[B, 28, 28]`` or ``[B, 1, 28, 28]`` (differentiable)."""
        return self.model(images)

    def predict(self, images: np.ndarray, batch: int = 1000) -> np.ndarray:
        """Decided class ``[n]`` (int64) of images ``[n, ...]`` (any of :meth:`logits`' shapes)."""
        images = np.asarray(images, np.float32)
        with torch.no_grad():
            return np.concatenate([self.logits(torch.from_numpy(images[i : i + batch])).argmax(1).numpy()
                                   for i in range(0, len(images), batch)]).astype(np.int64)


_LOADED: dict[tuple[str, int], ImageClassifier] = {}


def image_classifier(dataset: str, seed: int = 0, progress: TrainingProgress | None = None) -> ImageClassifier:
    """The CNN of ``dataset`` trained with ``seed`` (from the cache, or trained now with ``progress``), frozen;
    loaded once per process."""
    if (dataset, seed) not in _LOADED:
        model = trained_classifier(dataset, ClassifierTraining(seed=seed), progress)
        model.requires_grad_(False)
        _LOADED[dataset, seed] = ImageClassifier(f"cnn-{dataset}", model, IMAGE_DATASETS[dataset].classes)
    return _LOADED[dataset, seed]
