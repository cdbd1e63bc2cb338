"""The maps whose fragility ``synthcheck theory fragility`` measures.

- ``gaussian``: a linear map with an M × N Gaussian matrix (its Jacobian), at a random point; the theory
  predicts the ratio ``1 + sqrt(N/M)`` for large N.
- ``mnist-logits`` / ``mnist-penultimate``: a small MLP trained on MNIST (N = 784; M = 10 logits or the
  128 units of the last hidden layer), at a test image chosen by the seed.
- ``cnn-mnist-logits`` / ``cnn-mnist-penultimate`` and ``cnn-fashion-mnist-…``: the image domain's trained CNN
  (:func:`synthcheck.images.classifier.image_classifier`; N = 784, M = 10 logits or the 128-d penultimate layer
  before its ReLU), at a test image of its dataset chosen by the seed.
- ``whisper-tiny.en``: Whisper's encoder at a speech waveform (N = samples). The encoder output
  ``[frames, 384]`` is mean-pooled over time, so ``h(x) ∈ R^384`` (M = d_model): one summary vector per
  utterance, what a downstream classifier of the whole utterance would see, with M fixed whatever the length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.theory.fragility import BatchedMap, FragilityReport, fragility, gaussian_ratio

#: The CNN targets: ``cnn-<dataset>-<layer>`` for both image datasets and both layers.
CNN_MODELS = tuple(f"cnn-{dataset}-{layer}" for dataset in ("mnist", "fashion-mnist")
                   for layer in ("logits", "penultimate"))
FRAGILITY_MODELS = ("gaussian", "mnist-logits", "mnist-penultimate", *CNN_MODELS, "whisper-tiny.en")


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
    Gaussian matrix and point, or picks the test image (MLP and CNN targets).

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
        from synthcheck.theory.mnist import trained_mnist_mlp

        model = trained_mnist_mlp()
        index, label, x = _test_image("mnist", generator)
        h = model if name == "mnist-logits" else model.penultimate
        layer = "logits" if name == "mnist-logits" else "last hidden layer"
        return FragilityTarget(name, h, x, f"MNIST MLP {layer}, test image {index} (digit {label})")
    if name in CNN_MODELS:
        from synthcheck.images.classifier import image_classifier

        dataset, layer = name.removeprefix("cnn-").rsplit("-", 1)
        classifier = image_classifier(dataset)
        index, label, x = _test_image(dataset, generator)
        h = classifier.logits if layer == "logits" else classifier.model.features
        description = (f"{dataset} CNN {'logits' if layer == 'logits' else 'penultimate layer'}, "
                       f"test image {index} ({classifier.classes[label]})")
        return FragilityTarget(name, h, x, description)
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


def _test_image(dataset: str, generator: torch.Generator) -> tuple[int, int, Tensor]:
    """A test image of ``dataset`` drawn by ``generator``: its index, label and pixels ``[784]``."""
    from synthcheck.images.data import load_dataset

    test = load_dataset(dataset).test
    index = int(torch.randint(len(test), (1,), generator=generator))
    return index, int(test.labels[index]), torch.from_numpy(np.array(test.images[index]).reshape(-1))


@dataclass(frozen=True)
class FragilitySurvey:
    """One target's fragility ratio measured at several seeded points, with its median and spread."""

    name: str
    #: Per point: the target's description and its report (same order).
    descriptions: tuple[str, ...]
    reports: tuple[FragilityReport, ...]
    #: The ratio the theory predicts exactly (Gaussian maps), else None.
    expected_ratio: float | None

    @property
    def ratios(self) -> np.ndarray:
        """σ_max / E‖J·o‖ per point."""
        return np.array([report.ratio for report in self.reports])

    @property
    def median_ratio(self) -> float:
        """Median ratio over the points."""
        return float(np.median(self.ratios))

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the ratio (their difference is the IQR)."""
        low, high = np.quantile(self.ratios, [0.25, 0.75])
        return float(low), float(high)

    @property
    def sqrt_n_over_m(self) -> float:
        """Theorem 2's lower bound (the same at every point)."""
        return self.reports[0].sqrt_n_over_m

    @property
    def fd_ratios(self) -> np.ndarray:
        """Per point, the finite-difference ratio α/E β at the smallest step (empty when the check was skipped)."""
        return np.array([report.fd_check[-1].fd_ratio for report in self.reports if report.fd_check])

    @property
    def fd_rel_diffs(self) -> np.ndarray:
        """Per point, the finite-difference check's relative difference at the smallest step (empty when skipped)."""
        return np.array([report.fd_check[-1].rel_diff for report in self.reports if report.fd_check])


def fragility_survey(
    name: str,
    *,
    points: int = 1,
    seed: int = 0,
    n: int = 4000,
    m: int = 100,
    audio: np.ndarray | None = None,
    iters: int = 30,
    samples: int = 64,
    rel_tol: float = 1e-3,
    fd_steps: Sequence[float] = (1e-2, 1e-3, 1e-4),
    on_point: Callable[[FragilityReport], None] | None = None,
) -> FragilitySurvey:
    """Measure :func:`~synthcheck.theory.fragility.fragility` of the named target at ``points`` seeded points.

    Point ``i`` draws its target (Gaussian map, test image) and its random directions from two independent
    streams, words ``2i`` and ``2i + 1`` of ``SeedSequence(seed)``; the points are independent draws, so a test
    image can repeat. ``on_point`` is called after each point. The other parameters are those of
    :func:`fragility_target` and :func:`~synthcheck.theory.fragility.fragility`.

    Raises
    ------
    BadInputError
        ``points < 1``, or what :func:`fragility_target` and :func:`~synthcheck.theory.fragility.fragility` raise.
    """
    if points < 1:
        raise BadInputError(f"need at least one point to measure the fragility at, got points={points}")
    states = np.random.SeedSequence(seed).generate_state(2 * points)
    descriptions, reports, expected = [], [], None
    for target_seed, direction_seed in states.reshape(points, 2):
        target = fragility_target(name, n=n, m=m, audio=audio, seed=int(target_seed))
        report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(int(direction_seed)),
                           iters=iters, samples=samples, rel_tol=rel_tol, fd_steps=fd_steps)
        descriptions.append(target.description)
        reports.append(report)
        expected = target.expected_ratio
        if on_point is not None:
            on_point(report)
    return FragilitySurvey(name, tuple(descriptions), tuple(reports), expected)
