"""The image classifier (a small CNN) and the class-conditional generator (one small VAE per class).

:class:`SmallCNN`
    conv 5×5 (32) → ReLU → max-pool → conv 5×5 (64) → ReLU → max-pool → dense 128 (the penultimate layer,
    M = 128 for Theorem 2) → ReLU → dense 10 (logits). Input ``[B, 28, 28]`` or ``[B, 1, 28, 28]`` in [0, 1].
:class:`ClassVAEs`
    One VAE per class, as Analysis by Synthesis (Schott et al. 2018) has it, so G(z, j) can only draw class j:
    a conditional VAE with the label as an input may learn to carry the class in z, and then every class's
    "manifold" contains every digit. The ten VAEs are stacked into one module (weights ``[C, in, out]``, one
    ``bmm`` per layer), so a batch ``[C, B, ...]`` runs every class's network at once. Each is an MLP
    784 → 512 → 256 → 2·d (encoder) and d → 256 → 512 → 784 (decoder, Bernoulli logits), latent d = 8 by
    default (ABS's choice; :class:`~synthcheck.images.training.GeneratorTraining`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from synthcheck.images.data import SIDE

N_PIXELS = SIDE * SIDE


class SmallCNN(nn.Module):
    """The classifier q = g∘h: :meth:`features` is h (the 128-d penultimate layer), :meth:`forward` the logits."""

    def __init__(self, n_classes: int = 10, width: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, width),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(width, n_classes))

    def features(self, images: Tensor) -> Tensor:
        """Penultimate layer ``[B, width]`` (before its ReLU) of images ``[B, 28, 28]`` or ``[B, 1, 28, 28]``."""
        return self.body(images.reshape(-1, 1, SIDE, SIDE))

    def forward(self, images: Tensor) -> Tensor:
        """Logits ``[B, n_classes]``."""
        return self.head(self.features(images))


class _StackedLinear(nn.Module):
    """``C`` independent linear layers applied to ``[C, B, in]`` at once."""

    def __init__(self, n: int, fan_in: int, fan_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per stacked layer
        self.weight = nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def select(self, x: Tensor, classes: Tensor) -> Tensor:
        """Each row of ``x [B, in]`` through the layer of its class ``classes [B]``."""
        return torch.bmm(x.unsqueeze(1), self.weight[classes]).squeeze(1) + self.bias[classes, 0]


class ClassVAEs(nn.Module):
    """One VAE per class, stacked: ``x [C, B, 784] → (mean, log-variance) [C, B, d]``; ``z [C, B, d] → logits``."""

    def __init__(self, n_classes: int = 10, latent: int = 8, hidden: tuple[int, int] = (512, 256)) -> None:
        super().__init__()
        h1, h2 = hidden
        self.n_classes, self.latent = n_classes, latent
        self.encoder = nn.ModuleList([_StackedLinear(n_classes, a, b)
                                      for a, b in ((N_PIXELS, h1), (h1, h2), (h2, 2 * latent))])
        self.decoder = nn.ModuleList([_StackedLinear(n_classes, a, b)
                                      for a, b in ((latent, h2), (h2, h1), (h1, N_PIXELS))])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance ``[C, B, d]`` of images ``[C, B, 784]`` under each class's encoder."""
        h = x
        for i, layer in enumerate(self.encoder):
            h = layer(h)
            if i < len(self.encoder) - 1:
                h = torch.relu(h)
        return h[..., : self.latent], h[..., self.latent :]

    def decode_logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits ``[C, B, 784]`` of latents ``[C, B, d]`` under each class's decoder."""
        h = z
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i < len(self.decoder) - 1:
                h = torch.relu(h)
        return h

    def generate(self, z: Tensor) -> Tensor:
        """G(z, j) for every class j: images ``[C, B, 784]`` in (0, 1) of latents ``[C, B, d]``."""
        return torch.sigmoid(self.decode_logits(z))

    def generate_class(self, z: Tensor, classes: Tensor) -> Tensor:
        """G(z_i, j_i): images ``[B, 784]`` of latents ``[B, d]``, each under its own class ``classes [B]``."""
        h = z
        for i, layer in enumerate(self.decoder):
            h = layer.select(h, classes)
            if i < len(self.decoder) - 1:
                h = torch.relu(h)
        return torch.sigmoid(h)

    def negative_elbo(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Per-image negative ELBO ``[C, B]`` (nats; Bernoulli likelihood) of images ``[C, B, 784]``, each
        under its own class's VAE (one reparameterised sample)."""
        mean, log_var = self.encode(x)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        z = mean + eps * torch.exp(0.5 * log_var)
        reconstruction = nn.functional.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none")
        kl = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var)
        return reconstruction.sum(-1) + kl.sum(-1)
