"""Decompression of an image to the nearest codeword of each class: c_j(y) = argmin_{‖z‖ ≤ r} ‖y − G(z, j)‖.

:class:`LatentSearch` solves this for every image and every class at once (the per-class VAEs are stacked, so
one ``[C, n·R, d]`` batch runs all classes and restarts), as Analysis by Synthesis (Schott et al. 2018) does:

1. **starts** — for each (image, class) ``R`` latents: the class encoder's posterior mean, then the ``R − 1``
   latents of a fixed, seeded *bank* (``bank`` draws of N(0, I) per class, decoded once when the search is
   built) whose images are nearest the input. A bank rather than fresh draws keeps every image's starts
   independent of the batch it is in. A *randomised* search (``random_starts``, Defense-GAN's random restarts)
   instead draws all ``R`` starts from N(0, I), no encoder, with a generator seeded by a hash of the search's
   seed and the image's bytes: the check's secret randomness. Any change of the image draws new starts, so an
   attacker who does not know the seed meets them only in expectation (EOT, :mod:`~synthcheck.images.attacks`);
   the same image under the same seed gets the same answer (reproducible, independent of the batch and of the
   calls before).
2. **descent** — ``steps`` Adam steps on the squared residual ‖y − G(z, j)‖², each followed by the projection of
   z onto the ball ‖z‖ ≤ ``radius`` (ABS's ``clip_to_sphere``). The ball is what keeps z on the prior's
   typical set: ‖z‖ of N(0, I_8) exceeds 5 with probability 0.2 %. There is no prior penalty in the objective,
   so the search minimises the reported distance itself over a fixed compact set — what Danskin's theorem
   needs for the comparators' gradients (:mod:`~synthcheck.images.comparators`).
3. **choice** — per (image, class) the restart with the smallest final residual.

The search is a local one: its distance is an upper bound of the true minimum.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.images.io import validate_image
from synthcheck.images.models import N_PIXELS, ClassVAEs
from synthcheck.images.training import GeneratorTraining, trained_generator

#: Images searched per chunk (bounds memory: a chunk holds ``C · chunk · restarts`` reconstructions).
_CHUNK = 250


@dataclass(frozen=True)
class SearchSettings:
    """How :class:`LatentSearch` looks for c_j(y).

    Attributes
    ----------
    restarts
        Starts per (image, class): the encoder's posterior mean, then the ``restarts − 1`` nearest bank latents.
    bank
        Seeded N(0, I) latents per class the extra starts are chosen from (ignored when ``restarts`` is 1).
    steps
        Adam steps on the latents (0: the best start as found).
    learning_rate
        Adam's step size in latent units.
    radius
        The latents are kept in the ball ‖z‖ ≤ ``radius``.
    seed
        Seed of the bank, or the secret of the random starts.
    random_starts
        Draw all ``restarts`` starts from N(0, I), seeded by the seed and the image, instead of the encoder's
        mean and the nearest bank latents.
    """

    restarts: int = 1
    bank: int = 1000
    steps: int = 20
    learning_rate: float = 0.05
    radius: float = 5.0
    seed: int = 0
    random_starts: bool = False

    def __post_init__(self) -> None:
        if self.restarts < 1 or self.steps < 0:
            raise BadInputError(f"search: restarts must be >= 1 and steps >= 0, got {self.restarts} and {self.steps}")
        if self.restarts > 1 and not self.random_starts and self.bank < self.restarts - 1:
            raise BadInputError(f"search: a bank of {self.bank} latents cannot give {self.restarts - 1} extra "
                                "starts; raise bank or lower restarts")
        for name in ("learning_rate", "radius"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise BadInputError(f"search: {name} must be a positive number, got {value}")


@dataclass(frozen=True)
class Reconstruction:
    """The search's answer for ``n`` images and ``C`` classes.

    Attributes
    ----------
    codewords
        c_j(y) ``[n, C, 784]`` float32 in (0, 1).
    distances
        ‖y − c_j(y)‖ ``[n, C]`` (L2 on [0, 1] pixels).
    latents
        The z of each codeword ``[n, C, d]``.
    seconds
        Wall time of the search.
    """

    codewords: np.ndarray
    distances: np.ndarray
    latents: np.ndarray
    seconds: float

    def __len__(self) -> int:
        return int(self.distances.shape[0])


def image_batch(images: np.ndarray | Tensor, name: str = "images") -> np.ndarray:
    """``images`` (``[n, 784]``, ``[n, 28, 28]`` or ``[n, 1, 28, 28]``, numpy or torch) as float32 ``[n, 784]``,
    each image finite and in [0, 1]; else a :class:`BadInputError` naming the first bad image."""
    array = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if array.ndim < 2 or array.shape[0] == 0:
        raise BadInputError(f"{name}: expected a batch [n, 28, 28] or [n, 784] of n >= 1 images, got shape "
                            f"{array.shape}")
    return np.stack([validate_image(image, name=f"{name}[{i}]") for i, image in enumerate(array)]).reshape(-1, N_PIXELS)


def residual_distances(images: Tensor, codewords: Tensor) -> Tensor:
    """‖y − c‖ over the last axis (images broadcast against codewords), differentiable also at 0."""
    return (images - codewords).square().sum(-1).clamp_min(1e-12).sqrt()


class LatentSearch:
    """c_j(y) for every class j by seeded, batched latent search in a :class:`ClassVAEs` (see the module doc).

    Parameters
    ----------
    generator
        The per-class VAEs (their weights are not changed).
    settings
        Restarts, steps, step size, radius and seed.
    """

    def __init__(self, generator: ClassVAEs, settings: SearchSettings = SearchSettings()) -> None:
        self.generator = generator
        self.settings = settings
        bank = None
        if settings.restarts > 1 and not settings.random_starts:
            draws = torch.Generator().manual_seed(settings.seed)
            bank = _into_ball(torch.randn(generator.n_classes, settings.bank, generator.latent, generator=draws),
                              settings.radius)
            with torch.no_grad():
                self._bank_images = generator.generate(bank)  # [C, K, 784]
        self._bank = bank

    @property
    def n_classes(self) -> int:
        """C, the number of classes searched."""
        return self.generator.n_classes

    @property
    def randomised(self) -> bool:
        """Whether the search draws random starts (seeded by its secret seed and each image)."""
        return self.settings.random_starts

    def search(self, images: np.ndarray | Tensor) -> Reconstruction:
        """c_j(y), ‖y − c_j(y)‖ and z for every image and class (images as :func:`image_batch` takes them).

        An image's answer does not depend on the other images of the batch (up to float rounding of the
        batched matrix products, ~1e-6).
        """
        x = torch.from_numpy(image_batch(images))
        start = perf_counter()
        parts = [self._search_chunk(chunk) for chunk in x.split(_CHUNK)]
        codewords, distances, latents = (torch.cat(p).numpy() for p in zip(*parts))
        return Reconstruction(codewords, distances, latents, perf_counter() - start)

    def _search_chunk(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(codewords [m, C, 784], distances [m, C], latents [m, C, d])`` of ``x [m, 784]``."""
        m, restarts, d = len(x), self.settings.restarts, self.generator.latent
        z = self._starts(x).reshape(self.n_classes, m * restarts, d).requires_grad_(True)
        target = x.repeat_interleave(restarts, 0)  # [m·R, 784], broadcast over the classes
        optimiser = torch.optim.Adam([z], lr=self.settings.learning_rate)
        with torch.enable_grad():
            for _ in range(self.settings.steps):
                optimiser.zero_grad(set_to_none=True)
                (self.generator.generate(z) - target).square().sum().backward()
                optimiser.step()
                with torch.no_grad():
                    z.copy_(_into_ball(z, self.settings.radius))
        with torch.no_grad():
            codewords = self.generator.generate(z).reshape(self.n_classes, m, restarts, N_PIXELS)
            distances = residual_distances(x.unsqueeze(1), codewords)  # [C, m, R]
            best, chosen = distances.min(-1)
            index = chosen[..., None, None]
            codewords = codewords.gather(2, index.expand(-1, -1, 1, N_PIXELS)).squeeze(2)
            latents = z.detach().reshape(self.n_classes, m, restarts, d).gather(2, index.expand(-1, -1, 1, d)).squeeze(2)
        return codewords.transpose(0, 1), best.transpose(0, 1), latents.transpose(0, 1)

    def _starts(self, x: Tensor) -> Tensor:
        """Starting latents ``[C, m, R, d]``: each class encoder's mean, then the nearest bank latents (or R random
        draws seeded by the secret and the image)."""
        with torch.no_grad():
            if self.settings.random_starts:
                shape = (self.n_classes, self.settings.restarts, self.generator.latent)
                draws = torch.stack([torch.randn(shape, generator=_image_generator(self.settings.seed, image))
                                     for image in x], 1)  # [C, m, R, d]
                return _into_ball(draws, self.settings.radius)
            mean, _ = self.generator.encode(x.expand(self.n_classes, -1, -1))
            starts = [_into_ball(mean, self.settings.radius).unsqueeze(2)]
            if self._bank is not None:
                gaps = torch.cdist(x.expand(self.n_classes, -1, -1), self._bank_images)  # [C, m, K]
                nearest = gaps.topk(self.settings.restarts - 1, dim=-1, largest=False).indices
                starts.append(torch.stack([self._bank[c][nearest[c]] for c in range(self.n_classes)]))
        return torch.cat(starts, 2)


def _image_generator(seed: int, image: Tensor) -> torch.Generator:
    """A torch generator seeded by ``seed`` and the bytes of ``image`` (float32)."""
    digest = hashlib.blake2b(image.numpy().tobytes(), digest_size=8, key=seed.to_bytes(8, "little", signed=True))
    return torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)


def _into_ball(z: Tensor, radius: float) -> Tensor:
    """``z`` with every latent (last axis) longer than ``radius`` scaled back onto the sphere."""
    return z * (radius / z.norm(dim=-1, keepdim=True).clamp_min(radius))


@lru_cache(maxsize=4)
def image_generator(dataset: str, seed: int = 0) -> ClassVAEs:
    """The per-class VAEs of ``dataset`` trained with ``seed`` (cached weights), frozen; loaded once per process."""
    generator = trained_generator(dataset, GeneratorTraining(seed=seed))
    return generator.requires_grad_(False)
