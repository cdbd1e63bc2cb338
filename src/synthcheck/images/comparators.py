"""Scores of an image against a class from its searched codewords: higher means more consistent.

Both comparators are functions of the distance matrix D[i, k] = ‖y_i − c_k(y_i)‖ (L2 on [0, 1] pixels) and the
judged class j_i, written once in torch (:meth:`ImageComparator.from_distances`) and used two ways:

* :meth:`ImageComparator.score` — of a :class:`~synthcheck.images.decompress.Reconstruction` (the detector);
* :meth:`ImageComparator.torch_score` — of images and *given* latents z* (differentiable in the images: what
  an adaptive attack optimises). With z* the search's minimiser held fixed, the gradient of ‖y − G(z*, k)‖
  with respect to y is the exact gradient of min_{‖z‖ ≤ r} ‖y − G(z, k)‖ by Danskin's theorem (the minimum
  over a fixed compact set of a function smooth in y, at a unique minimiser); the same holds for the min over
  the other classes in :class:`EvidenceComparator`. "Exact" is relative to the search: a local minimum
  gives the gradient of that local branch.

As in speech (:mod:`synthcheck.detect.calibration`), an input is flagged when its score is below the threshold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.images.decompress import Reconstruction, residual_distances
from synthcheck.images.models import ClassVAEs
from synthcheck.registry import Registry


class ImageComparator(ABC):
    """A score of (image, class) pairs from the distances of each image to every class's codeword."""

    #: Registry name, stored with verdicts.
    name: ClassVar[str]
    #: One line on what the score is.
    description: ClassVar[str]

    @abstractmethod
    def from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """Scores ``[B]`` of distances ``[B, C]`` (‖y − c_k(y)‖ per class) judged against ``labels [B]``."""

    def score(self, reconstruction: Reconstruction, labels: np.ndarray) -> np.ndarray:
        """Scores ``[n]`` (float64) of the searched images judged against ``labels [n]`` (class indices)."""
        distances = torch.from_numpy(np.asarray(reconstruction.distances, np.float64))
        return self.from_distances(distances, class_indices(labels, distances.shape)).numpy()

    def torch_score(self, generator: ClassVAEs, images: Tensor, latents: Tensor, labels: Tensor) -> Tensor:
        """Scores ``[B]`` of ``images [B, 784]`` with codewords G(z*, k) of fixed ``latents [B, C, d]``,
        judged against ``labels [B]``; differentiable in ``images`` (see the module doc for why this is the
        gradient of the searched score)."""
        codewords = generator.generate(latents.transpose(0, 1)).transpose(0, 1)  # [B, C, 784]
        distances = residual_distances(images.unsqueeze(1), codewords)
        return self.from_distances(distances, class_indices(labels, distances.shape))


@dataclass(frozen=True)
class ResidualComparator(ImageComparator):
    """score = −‖y − c_j(y)‖: minus the distance of the image to the judged class's generated manifold."""

    name: ClassVar[str] = "residual"
    description: ClassVar[str] = "-||y - c_j(y)||: distance to the judged class's generated manifold"

    def from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        return -distances.gather(1, labels[:, None]).squeeze(1)


@dataclass(frozen=True)
class EvidenceComparator(ImageComparator):
    """score = min_{k≠j} ‖y − c_k(y)‖ − ‖y − c_j(y)‖: how much nearer the judged class's manifold is than the
    nearest other class's (in L2 pixel units; > 0 iff the judged class is the nearest).

    The distance-difference form of ABS's per-class evidence (rather than its log-likelihood ratio, which
    depends on an assumed pixel noise σ): by the triangle inequality a perturbation δ changes each distance by
    at most ‖δ‖, so the score of an exact search moves by at most 2‖δ‖.
    """

    name: ClassVar[str] = "evidence"
    description: ClassVar[str] = "min_{k!=j} ||y - c_k|| - ||y - c_j||: margin of the judged class over the nearest other"

    def from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        own = distances.gather(1, labels[:, None]).squeeze(1)
        others = distances.scatter(1, labels[:, None], torch.inf)
        return others.min(1).values - own


#: The image comparators by name.
IMAGE_COMPARATORS: Registry[ImageComparator] = Registry("image comparator",
                                                        [ResidualComparator(), EvidenceComparator()])


def class_indices(labels: np.ndarray | Tensor | list[int], shape: tuple[int, ...]) -> Tensor:
    """``labels`` as an int64 tensor ``[B]`` of classes in ``[0, C)`` for a distance matrix of ``shape`` ``[B, C]``;
    else a :class:`BadInputError`."""
    values = labels.detach().cpu() if isinstance(labels, Tensor) else torch.as_tensor(np.asarray(labels))
    if values.dtype.is_floating_point or values.dtype == torch.bool or values.ndim != 1 or len(values) != shape[0]:
        raise BadInputError(f"labels: expected {shape[0]} class indices (integers), got {values.dtype} of shape "
                            f"{tuple(values.shape)}")
    if len(values) and not (0 <= int(values.min()) and int(values.max()) < shape[1]):
        raise BadInputError(f"labels: classes must be in 0..{shape[1] - 1}, got {int(values.min())}..{int(values.max())}")
    return values.long()
