"""The maps whose fragility ``synthcheck theory fragility`` measures.

- ``gaussian``: a linear map with an M × N Gaussian matrix (its Jacobian), at a random point; the theory
  predicts the ratio ``1 + sqrt(N/M)`` for large N.
- ``mnist-logits`` / ``mnist-penultimate``: a small MLP trained on MNIST (N = 784; M = 10 logits or the
  128 units of the last hidden layer), at a test image chosen by the seed.
- ``whisper-tiny.en``: Whisper's encoder at a speech waveform (N = samples). The encoder output
  ``[frames, 384]`` is mean-pooled over time, so ``h(x) ∈ R^384`` (M = d_model): one summary vector per
  utterance, what a downstream classifier of the whole utterance would see, with M fixed whatever the length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.theory.fragility import BatchedMap, gaussian_ratio

FRAGILITY_MODELS = ("gaussian", "mnist-logits", "mnist-penultimate", "whisper-tiny.en")


@dataclass(frozen=True)
class FragilityTarget:
    """A map ``h`` (batched, see :data:`~synthcheck.theory.fragility.BatchedMap`), the point ``x`` to measure it
    at, a one-line description, and the ratio the theory predicts exactly if there is one."""

    name: str
    h: BatchedMap
    x: Tensor
    description: str
    expected_ratio: float | None = None


def fragility_target(
    name: str, *, n: int = 4000, m: int = 100, audio: np.ndarray | None = None, seed: int = 0
) -> FragilityTarget:
    """Build the named target (one of :data:`FRAGILITY_MODELS`).

    ``n`` and ``m`` size the Gaussian map; ``audio`` (16 kHz float32) is the Whisper input; ``seed`` draws the
    Gaussian matrix and point, or picks the MNIST test image.

    Raises
    ------
    BadInputError
        Unknown name, bad sizes, or Whisper without audio.
    """
    generator = torch.Generator().manual_seed(seed)
    if name == "gaussian":
        if not 1 <= m <= n:
            raise BadInputError(f"the Gaussian map needs 1 ≤ M ≤ N, got N={n}, M={m}")
        matrix = torch.randn(m, n, generator=generator, dtype=torch.float64) / n**0.5
        point = torch.randn(n, generator=generator, dtype=torch.float64)
        return FragilityTarget(
            name, lambda xs: xs @ matrix.T, point, f"linear map, {m} x {n} Gaussian matrix", gaussian_ratio(n, m)
        )
    if name in ("mnist-logits", "mnist-penultimate"):
        from synthcheck.theory.mnist import load_mnist, trained_mnist_mlp

        model = trained_mnist_mlp()
        _, _, (images, labels) = load_mnist()
        index = int(torch.randint(len(images), (1,), generator=generator))
        h = model if name == "mnist-logits" else model.penultimate
        layer = "logits" if name == "mnist-logits" else "last hidden layer"
        description = f"MNIST MLP {layer}, test image {index} (digit {labels[index]})"
        return FragilityTarget(name, h, torch.from_numpy(images[index]), description)
    if name == "whisper-tiny.en":
        if audio is None:
            raise BadInputError("the whisper-tiny.en target needs speech audio; pass --audio FILE")
        from synthcheck.asr.whisper import WhisperRecognizer

        from whisper.model import disable_sdpa

        recognizer = WhisperRecognizer.load("tiny.en")
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))

        def pooled_encoding(xs: Tensor) -> Tensor:
            with disable_sdpa():  # the fused attention kernel has no forward-mode derivative
                return recognizer.encode(xs).mean(dim=1)

        return FragilityTarget(
            name,
            pooled_encoding,
            x,
            f"Whisper tiny.en encoder, mean-pooled over time, {x.numel() / 16000:.1f} s of audio",
        )
    raise BadInputError(f"unknown fragility model {name!r}; choose one of: {', '.join(FRAGILITY_MODELS)}")
