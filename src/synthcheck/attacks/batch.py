"""The batch an attack's hooks act on, and the one helper that pads items of different lengths into it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class AttackBatch:
    """One step's inputs as the objective and penalty hooks see them.

    Attributes
    ----------
    inputs
        ``[B, T]`` float32 current (adversarial) inputs, zero-padded after each item; gradients flow back.
    mask
        ``[B, T]`` float32: 1 inside item ``i``'s ``lengths[i]`` samples, 0 in its padding.
    lengths
        Each item's unpadded length.
    labels
        Each item's text (target or reference) from the criterion.
    """

    inputs: torch.Tensor
    mask: torch.Tensor
    lengths: list[int]
    labels: list[str]


def pad_batch(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Zero-pad 1-D arrays into one float32 batch.

    Returns
    -------
    tuple
        The batch ``[B, T]`` (T the longest length), the lengths, and the float mask ``[B, T]`` (1 inside items).
    """
    lengths = [int(np.asarray(a).size) for a in arrays]
    width = max(lengths)
    batch = torch.zeros(len(lengths), width)
    for i, a in enumerate(arrays):
        batch[i, : lengths[i]] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).float()
    return batch, lengths, mask
