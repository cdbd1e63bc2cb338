"""Random noise versus adversarial perturbation on the image classifier: two L2 radii per image and their ratio.

The image counterpart of the speech noise-versus-adversarial measurement (``synthcheck robustness``,
:mod:`synthcheck.attacks.noise`), and of Theorem 1.2 on a real classifier: a classifier deciding from
``M`` numbers should tolerate random noise about sqrt(N/M) times larger than the smallest adversarial change.
For an image ``x`` with clean decision ``k = q(x)``:

* **noise radius** — along each of ``directions`` seeded Gaussian directions ``d`` (unit L2 norm), the smallest
  ``t`` at which ``q(x + t·d) ≠ k``: a geometric grid of ``t`` finds the first level that flips the decision, then
  bisection narrows the bracket below it (a flip-and-back between two grid levels is missed). The radius of a
  direction is the L2 norm of the perturbation actually added at that ``t``; the image's radius is the (lower)
  median over its directions (``inf`` when more than half of them never flip inside the grid). It is measured twice on
  the same directions: *unclipped* (``x + t·d``, Theorem 2's setting, ``o`` uniform on the sphere; the result is
  not an image) and *clipped* to the image box (``clip(x + t·d, 0, 1) − x``, a valid image like the adversarial
  one; on MNIST's black background clipping drops the negative half of the noise, so the added noise is
  brighter on average and its norm is below ``t``).
* **adversarial radius** — ‖δ‖₂ of foolbox 3's DDN attack (decoupled direction and norm, Rony et al. 2019), a
  minimal-L2, untargeted attack against ``k`` that stays inside [0, 1]; it upper-bounds the true minimal norm
  (100 steps are within 0.3 % of 1000 on MNIST). ``inf`` when the attack fails.

Every image's directions come from its own generator, seeded by ``(seed, id)``, so an image's noise radii do not
depend on the other images in the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.images.classifier import ImageClassifier, image_classifier
from synthcheck.images.data import load_dataset
from synthcheck.images.models import N_PIXELS
from synthcheck.jsonable import json_safe


@dataclass(frozen=True)
class RadiusSearch:
    """How the radii are searched.

    Attributes
    ----------
    directions
        Seeded random directions per image for the noise radius.
    levels, smallest, largest
        The geometric grid of noise norms ``t`` (L2) searched for the first flip.
    bisections
        Bisection steps inside the first flipping bracket (each halves it).
    attack_steps
        Steps of the DDN attack.
    batch
        Images per classifier call.
    """

    directions: int = 16
    levels: int = 24
    smallest: float = 0.1
    largest: float = 100.0
    bisections: int = 10
    attack_steps: int = 100
    batch: int = 2048

    def __post_init__(self) -> None:
        if min(self.directions, self.levels, self.attack_steps, self.batch) < 1 or self.bisections < 0:
            raise BadInputError(f"radius search: directions, levels, attack_steps and batch must be >= 1 and "
                                f"bisections >= 0, got {self}")
        if not 0 < self.smallest < self.largest:
            raise BadInputError(f"radius search: need 0 < smallest < largest noise norm, got {self.smallest}, "
                                f"{self.largest}")

    def grid(self) -> np.ndarray:
        """The noise norms ``t`` of the grid, ascending."""
        return np.geomspace(self.smallest, self.largest, self.levels)


@dataclass(frozen=True)
class NoiseRadius:
    """The random-noise radius of one image: the lower median over directions of the L2 norm that flips the
    decision."""

    radius: float
    #: Per direction, the L2 norm of the noise at the flip (``inf``: no flip inside the grid).
    per_direction: tuple[float, ...]

    @property
    def flipped(self) -> float:
        """Share of the directions that flip the decision inside the grid."""
        return float(np.mean(np.isfinite(self.per_direction)))


@dataclass(frozen=True)
class ImageRadii:
    """Both radii of one image, and their ratios."""

    #: The image's id (its test-split index, or its position in the batch).
    index: int
    label: int
    #: The classifier's decision on the clean image (the radii are those that change it).
    decision: int
    noise: NoiseRadius
    noise_unclipped: NoiseRadius
    #: L2 norm of the minimal-norm attack (``inf`` when it failed).
    adversarial: float

    @property
    def ratio(self) -> float:
        """Clipped noise radius / adversarial radius."""
        return self.noise.radius / self.adversarial

    @property
    def ratio_unclipped(self) -> float:
        """Unclipped noise radius / adversarial radius."""
        return self.noise_unclipped.radius / self.adversarial


@dataclass(frozen=True)
class RadiiSummary:
    """The radii of a set of images, their medians and quartiles, and Theorem 2's references."""

    classifier: str
    items: tuple[ImageRadii, ...]
    settings: RadiusSearch
    seed: int

    @property
    def noise(self) -> np.ndarray:
        """Clipped noise radius per image."""
        return np.array([item.noise.radius for item in self.items])

    @property
    def noise_unclipped(self) -> np.ndarray:
        """Unclipped noise radius per image."""
        return np.array([item.noise_unclipped.radius for item in self.items])

    @property
    def adversarial(self) -> np.ndarray:
        """Adversarial radius per image."""
        return np.array([item.adversarial for item in self.items])

    @property
    def ratio(self) -> np.ndarray:
        """Clipped noise / adversarial, per image."""
        return np.array([item.ratio for item in self.items])

    @property
    def ratio_unclipped(self) -> np.ndarray:
        """Unclipped noise / adversarial, per image."""
        return np.array([item.ratio_unclipped for item in self.items])

    @property
    def correct(self) -> float:
        """Share of the images whose clean decision is their label."""
        return float(np.mean([item.decision == item.label for item in self.items]))

    @staticmethod
    def sqrt_n_over_m(m: int) -> float:
        """Theorem 2's reference sqrt(N/M) for N = 784 and a representation of ``m`` numbers."""
        return math.sqrt(N_PIXELS / m)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the settings, the quartiles of every radius and ratio, the references, and every image."""
        spread = {name: quartiles(values) for name, values in (
            ("noise", self.noise), ("noise_unclipped", self.noise_unclipped), ("adversarial", self.adversarial),
            ("ratio", self.ratio), ("ratio_unclipped", self.ratio_unclipped))}
        return json_safe({"classifier": self.classifier, "seed": self.seed, "settings": asdict(self.settings),
                          "images": len(self.items), "correct": self.correct, "quartiles": spread,
                          "sqrt_n_over_m": {m: self.sqrt_n_over_m(m) for m in (10, 128)},
                          "items": [asdict(item) for item in self.items]})


def quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """First quartile, median and third quartile of ``values`` (``inf`` entries sort last; order statistics, so
    an ``inf`` never turns into NaN)."""
    low, middle, high = np.quantile(values, [0.25, 0.5, 0.75], method="inverted_cdf")
    return float(low), float(middle), float(high)


def image_radii(
    classifier: ImageClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    ids: Sequence[int] | None = None,
    settings: RadiusSearch = RadiusSearch(),
) -> tuple[ImageRadii, ...]:
    """Noise (clipped and unclipped) and adversarial radius of each image.

    Parameters
    ----------
    classifier
        The classifier whose decisions the perturbations must change.
    images, labels
        Images ``[n, 28, 28]`` or ``[n, 784]`` in [0, 1] and their labels ``[n]``.
    seed, ids
        The directions of image ``i`` are drawn from a generator seeded by ``(seed, ids[i])`` (``ids`` defaults to
        the positions); ``seed`` also seeds the attack's rare random draws.
    settings
        Grid, bisection and attack budgets.

    Raises
    ------
    BadInputError
        No images, a wrong shape, values outside [0, 1] or not finite, labels or ids of the wrong length.
    """
    x = _checked_images(images)
    labels = np.asarray(labels, np.int64).reshape(-1)
    ids = list(range(len(x))) if ids is None else [int(i) for i in ids]
    if len(labels) != len(x) or len(ids) != len(x):
        raise BadInputError(f"need one label and one id per image: {len(x)} images, {len(labels)} labels, "
                            f"{len(ids)} ids")
    decisions = _decide(classifier, x, settings.batch)
    directions = torch.stack([noise_directions(seed, i, settings.directions) for i in ids])
    clipped = _noise_radii(classifier, x, decisions, directions, settings, clip=True)
    unclipped = _noise_radii(classifier, x, decisions, directions, settings, clip=False)
    adversarial = _adversarial_radii(classifier, x, decisions, settings, seed)
    return tuple(
        ImageRadii(index=ids[i], label=int(labels[i]), decision=int(decisions[i]), noise=clipped[i],
                   noise_unclipped=unclipped[i], adversarial=float(adversarial[i]))
        for i in range(len(x))
    )


def radii_of_test_images(dataset: str, count: int, *, seed: int = 0,
                     settings: RadiusSearch = RadiusSearch()) -> RadiiSummary:
    """:func:`image_radii` of ``count`` distinct test images of ``dataset`` drawn by ``seed``, for its CNN.

    Raises
    ------
    BadInputError
        An unknown dataset, or ``count`` not in 1 … the size of the test split.
    """
    test = load_dataset(dataset).test
    if not 1 <= count <= len(test):
        raise BadInputError(f"choose between 1 and {len(test)} test images, got {count}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(test), size=count, replace=False))
    classifier = image_classifier(dataset)
    items = image_radii(classifier, test.images[chosen], test.labels[chosen], seed=seed, ids=chosen.tolist(),
                        settings=settings)
    return RadiiSummary(classifier.name, items, settings, seed)


def _checked_images(images: np.ndarray) -> Tensor:
    array = np.asarray(images, np.float32)
    if array.ndim not in (2, 3) or array.shape[0] == 0 or array[0].size != N_PIXELS:
        raise BadInputError(f"expected a non-empty batch of 28x28 images [n, 28, 28] or [n, 784], got shape "
                            f"{array.shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise BadInputError("image pixels must be finite and in [0, 1]; scale 8-bit images by 1/255")
    return torch.from_numpy(array.reshape(len(array), N_PIXELS).copy())


def _decide(classifier: ImageClassifier, images: Tensor, batch: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([classifier.logits(chunk).argmax(1) for chunk in images.split(batch)])


def noise_directions(seed: int, image: int, count: int) -> Tensor:
    """``count`` unit Gaussian directions ``[count, 784]`` of image ``image``, from a generator of its own."""
    state = int(np.random.SeedSequence([seed, image]).generate_state(1)[0])
    d = torch.randn(count, N_PIXELS, generator=torch.Generator().manual_seed(state))
    return d / d.norm(dim=1, keepdim=True)


def _noise_radii(classifier: ImageClassifier, x: Tensor, decisions: Tensor, directions: Tensor,
                 settings: RadiusSearch, *, clip: bool) -> list[NoiseRadius]:
    """Per image, the noise radius along each of its directions ``[n, K, 784]`` (see the module docstring)."""
    n, k = directions.shape[:2]
    origin = x.repeat_interleave(k, dim=0)
    rays = directions.reshape(n * k, N_PIXELS)
    wanted = decisions.repeat_interleave(k)

    def perturbed(rows: Tensor, t: Tensor) -> Tensor:
        moved = origin[rows] + t.unsqueeze(1) * rays[rows]
        return moved.clamp(0.0, 1.0) if clip else moved

    def flips(rows: Tensor, t: Tensor) -> Tensor:
        return _decide(classifier, perturbed(rows, t), settings.batch) != wanted[rows]

    grid = torch.from_numpy(settings.grid()).float()
    low = torch.zeros(n * k)
    high = torch.full((n * k,), math.inf)
    pending = torch.arange(n * k)
    for level, t in enumerate(grid):
        if pending.numel() == 0:
            break
        flipped = flips(pending, t.expand(pending.numel()))
        done = pending[flipped]
        high[done] = t
        low[done] = grid[level - 1] if level > 0 else 0.0
        pending = pending[~flipped]
    bracketed = torch.nonzero(torch.isfinite(high)).flatten()
    for _ in range(settings.bisections if bracketed.numel() else 0):
        middle = (low[bracketed] + high[bracketed]) / 2
        flipped = flips(bracketed, middle)
        high[bracketed[flipped]] = middle[flipped]
        low[bracketed[~flipped]] = middle[~flipped]
    norms = torch.full((n * k,), math.inf, dtype=torch.float64)
    if bracketed.numel():
        added = perturbed(bracketed, high[bracketed]) - origin[bracketed]
        norms[bracketed] = added.double().norm(dim=1)
    per_image = norms.reshape(n, k).numpy()
    return [NoiseRadius(quartiles(row)[1], tuple(float(v) for v in row)) for row in per_image]


def _adversarial_radii(classifier: ImageClassifier, x: Tensor, decisions: Tensor, settings: RadiusSearch,
                       seed: int) -> np.ndarray:
    """L2 norm of foolbox's DDN attack against each clean decision (``inf`` where it fails)."""
    import foolbox

    model = foolbox.PyTorchModel(classifier.model, bounds=(0.0, 1.0))
    attack = foolbox.attacks.DDNAttack(steps=settings.attack_steps)
    norms = []
    with torch.random.fork_rng():  # DDN draws a random direction (global generator) where a gradient vanishes
        torch.manual_seed(seed)
        for images, wanted in zip(x.split(settings.batch), decisions.split(settings.batch)):
            images = images.reshape(-1, 1, 28, 28)
            _, adversarial, success = attack(model, images, foolbox.criteria.Misclassification(wanted), epsilons=None)
            size = (adversarial - images).flatten(1).double().norm(dim=1)
            norms.append(torch.where(success, size, torch.full_like(size, math.inf)))
    return torch.cat(norms).numpy()
