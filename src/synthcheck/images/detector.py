"""The image consistency check: classify, decompress the decision to its nearest codeword, compare, threshold.

:class:`ImageDetector` protects an :class:`~synthcheck.images.classifier.ImageClassifier` with a
:class:`~synthcheck.images.decompress.LatentSearch` and an :class:`~synthcheck.images.comparators.ImageComparator`;
an image is consistent when its score is at least the threshold (flagged: below), as in speech. Named
configurations: :data:`IMAGE_DETECTORS`, whose ``build(dataset)`` calibrates the threshold.

Calibration (:func:`calibrate_image_detector`): the threshold is
:func:`~synthcheck.detect.calibration.calibrate_threshold` at 5 % FPR of the scores of the clean test images
among the first :data:`CALIBRATION_IMAGES` of the test split that the classifier gets right (a flag on a
misclassified clean image is a catch, not a false positive). Its FPR is then measured, with a Wilson 95 %
interval, on the correctly classified images of the next ``held_out`` test images — never on calibration
images. Experiments evaluate on test images after the calibration ones. Calibrations are cached under
``cache_dir("images")``, keyed by the models' weights, the settings and this code.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import torch
from torch import Tensor

from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.detect.calibration import calibrate_threshold, false_positive_rate, wilson_interval
from synthcheck.errors import BadInputError
from synthcheck.images import comparators, decompress
from synthcheck.images.classifier import ImageClassifier, image_classifier
from synthcheck.images.comparators import IMAGE_COMPARATORS, ImageComparator, class_indices
from synthcheck.images.data import SIDE, load_dataset
from synthcheck.images.decompress import LatentSearch, Reconstruction, SearchSettings, image_batch, image_generator
from synthcheck.images.training import ClassifierTraining, GeneratorTraining, model_card
from synthcheck.registry import Registry

log = logging.getLogger(__name__)

#: The first this many test images of each dataset calibrate the thresholds; evaluation uses later ones.
CALIBRATION_IMAGES = 1000
#: Test images after the calibration ones on which the calibrated threshold's FPR is measured.
HELD_OUT_IMAGES = 1000
#: The false-positive rate the thresholds are calibrated for.
TARGET_FPR = 0.05


@dataclass(frozen=True)
class ImageTimings:
    """Seconds per image of the check's parts (a batch's time shared equally by its images)."""

    classify: float
    search: float
    total: float


@dataclass(frozen=True)
class ImageVerdict:
    """One image judged against one class.

    Attributes
    ----------
    label, class_name
        The class judged (the classifier's decision, or the label given to :meth:`ImageDetector.check_label`).
    score, threshold, consistent
        ``consistent`` is ``score >= threshold``; inconsistent images are possibly adversarial.
    codeword
        c_label(y) ``[28, 28]``, the judged class's nearest generated image (not part of :meth:`to_dict`).
    distances
        ‖y − c_k(y)‖ for every class k.
    detector, comparator
        Names of the configuration and the comparator.
    timings
        Where the time went.
    """

    label: int
    class_name: str
    score: float
    threshold: float
    consistent: bool
    codeword: np.ndarray = field(repr=False)
    distances: tuple[float, ...]
    detector: str
    comparator: str
    timings: ImageTimings

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of everything except the codeword."""
        values = asdict(self)
        del values["codeword"]
        return values


class ImageDetector:
    """Flags images whose decided class, decompressed by latent search, does not explain them.

    Parameters
    ----------
    classifier
        The classifier under protection.
    search
        c_j(y) for every class (its generator's classes must be the classifier's).
    comparator
        The score of an image against a class from its distances.
    threshold
        Scores at or above it are consistent.
    name
        Configuration name reported in verdicts.
    """

    def __init__(self, classifier: ImageClassifier, search: LatentSearch, comparator: ImageComparator,
                 threshold: float, *, name: str = "custom") -> None:
        if not math.isfinite(threshold):
            raise BadInputError(f"threshold must be a finite number, got {threshold}")
        if search.n_classes != len(classifier.classes):
            raise BadInputError(f"the generator has {search.n_classes} classes but {classifier.name} has "
                                f"{len(classifier.classes)}; use the generator of the classifier's dataset")
        self.classifier, self.search, self.comparator = classifier, search, comparator
        self.threshold = float(threshold)
        self.name = name

    def with_threshold(self, threshold: float) -> ImageDetector:
        """The same detector at another threshold."""
        return ImageDetector(self.classifier, self.search, self.comparator, threshold, name=self.name)

    def with_search_seed(self, seed: int) -> ImageDetector:
        """The same detector with its search's seed (a randomised search's secret) replaced."""
        search = LatentSearch(self.search.generator, replace(self.search.settings, seed=seed))
        return ImageDetector(self.classifier, search, self.comparator, self.threshold, name=self.name)

    def check(self, image: np.ndarray) -> ImageVerdict:
        """Classify one image (``[28, 28]`` or ``[784]`` in [0, 1]) and judge it against the decision."""
        return self.check_batch(image_batch(np.asarray(image)[None], name="image"))[0]

    def check_batch(self, images: np.ndarray | Tensor) -> list[ImageVerdict]:
        """Classify every image of a batch (``[n, 28, 28]`` or ``[n, 784]``) and judge it; one search for all."""
        batch = image_batch(images)
        start = perf_counter()
        decided = self.classifier.predict(batch)
        return self._judge(batch, decided, (perf_counter() - start) / len(batch))

    def check_label(self, images: np.ndarray | Tensor, labels: np.ndarray | list[int]) -> list[ImageVerdict]:
        """Judge each image against a given class (e.g. an attacker's target) without classifying it."""
        return self._judge(image_batch(images), np.asarray(labels), 0.0)

    def scores(self, images: np.ndarray | Tensor, labels: np.ndarray | list[int]) -> np.ndarray:
        """Scores ``[n]`` of images judged against ``labels`` (what the verdicts' ``score`` would be)."""
        return self._score(image_batch(images), np.asarray(labels))[1]

    def torch_score(self, images: Tensor, labels: Tensor | list[int]) -> Tensor:
        """Scores ``[B]`` of ``images [B, 784]`` (or ``[B, 28, 28]``) against ``labels``, differentiable in the
        images: the search runs on the detached images, then the comparator scores them with the found
        latents held fixed (the exact gradient of the searched score, Danskin's theorem;
        :mod:`~synthcheck.images.comparators`)."""
        latents = torch.from_numpy(self.search.search(images).latents)
        flat = images.reshape(len(latents), -1)
        return self.comparator.torch_score(self.search.generator, flat, latents, labels)

    def penalty(self, images: Tensor, labels: Tensor | list[int]) -> tuple[Tensor, np.ndarray]:
        """``(−score [B], score >= threshold [B])``: the differentiable term an adaptive attack adds to its loss
        (lower is more consistent) and the detector's decision, from one search."""
        score = self.torch_score(images, labels)
        return -score, score.detach().numpy() >= self.threshold

    def _score(self, batch: np.ndarray, labels: np.ndarray) -> tuple[Reconstruction, np.ndarray]:
        labels = class_indices(labels, (len(batch), self.search.n_classes)).numpy()
        reconstruction = self.search.search(batch)
        return reconstruction, self.comparator.score(reconstruction, labels)

    def _judge(self, batch: np.ndarray, labels: np.ndarray, classify_seconds: float) -> list[ImageVerdict]:
        reconstruction, scores = self._score(batch, labels)
        search_seconds = reconstruction.seconds / len(batch)
        timings = ImageTimings(classify_seconds, search_seconds, classify_seconds + search_seconds)
        return [
            ImageVerdict(
                label=int(label), class_name=self.classifier.classes[int(label)], score=float(score),
                threshold=self.threshold, consistent=bool(score >= self.threshold),
                codeword=reconstruction.codewords[i, int(label)].reshape(SIDE, SIDE),
                distances=tuple(float(d) for d in reconstruction.distances[i]), detector=self.name,
                comparator=self.comparator.name, timings=timings,
            )
            for i, (label, score) in enumerate(zip(labels, scores, strict=True))
        ]


@dataclass(frozen=True)
class ImageCalibration:
    """A threshold calibrated on clean test images and its false-positive rate measured on other ones.

    Attributes
    ----------
    detector, dataset
        What was calibrated.
    threshold
        The largest threshold with FPR ≤ ``target_fpr`` on the calibration images.
    target_fpr, calibration_fpr
        The target and the rate realised on the calibration images.
    held_out_fpr, held_out_interval
        The rate on the held-out images and its Wilson 95 % interval.
    n_calibration, n_held_out
        Correctly classified clean images used for each.
    seconds
        Wall time of the calibration (searches included).
    """

    detector: str
    dataset: str
    threshold: float
    target_fpr: float
    calibration_fpr: float
    held_out_fpr: float
    held_out_interval: tuple[float, float]
    n_calibration: int
    n_held_out: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def calibrate_image_detector(detector: ImageDetector, dataset: str, target_fpr: float = TARGET_FPR,
                             calibration: int = CALIBRATION_IMAGES, held_out: int = HELD_OUT_IMAGES) -> ImageCalibration:
    """Calibrate ``detector``'s threshold on the correctly classified of the first ``calibration`` test images of
    ``dataset`` and measure its FPR on those of the next ``held_out`` (the detector's own threshold is unused)."""
    test = load_dataset(dataset).test
    if not (1 <= calibration and 1 <= held_out and calibration + held_out <= len(test)):
        raise BadInputError(f"calibration: need >= 1 calibration and held-out images, {len(test)} in all; got "
                            f"{calibration} and {held_out}")
    start = perf_counter()
    parts = []
    for images, labels in ((test.images[:calibration], test.labels[:calibration]),
                           (test.images[calibration:calibration + held_out], test.labels[calibration:calibration + held_out])):
        correct = detector.classifier.predict(images) == labels
        parts.append(detector.scores(images[correct], labels[correct]))
    calibration_scores, held_out_scores = parts
    threshold = calibrate_threshold(calibration_scores, target_fpr)
    flagged = int(np.sum(held_out_scores < threshold))
    return ImageCalibration(
        detector=detector.name, dataset=dataset, threshold=threshold, target_fpr=target_fpr,
        calibration_fpr=false_positive_rate(calibration_scores, threshold),
        held_out_fpr=flagged / held_out_scores.size, held_out_interval=wilson_interval(flagged, held_out_scores.size),
        n_calibration=calibration_scores.size, n_held_out=held_out_scores.size, seconds=perf_counter() - start,
    )


@dataclass(frozen=True)
class ImageDetectorConfig:
    """A named image detector: a comparator (:data:`~synthcheck.images.comparators.IMAGE_COMPARATORS`) and the
    search settings."""

    name: str
    description: str
    comparator: str
    search: SearchSettings = SearchSettings()

    def build(self, dataset: str, threshold: float | None = None) -> ImageDetector:
        """The detector protecting ``dataset``'s CNN; ``threshold`` None: the calibrated one (cached; the first
        call per dataset searches 2000 test images, tens of seconds)."""
        detector = self._detector(dataset)
        return detector.with_threshold(self._calibration(detector, dataset).threshold if threshold is None
                                       else threshold)

    def calibration(self, dataset: str) -> ImageCalibration:
        """This configuration's calibration on ``dataset`` (from the cache, or computed now and cached)."""
        return self._calibration(self._detector(dataset), dataset)

    def _detector(self, dataset: str) -> ImageDetector:
        """The detector at a placeholder threshold 0."""
        search = LatentSearch(image_generator(dataset), self.search)
        return ImageDetector(image_classifier(dataset), search, IMAGE_COMPARATORS[self.comparator], 0.0,
                             name=self.name)

    def _calibration(self, detector: ImageDetector, dataset: str) -> ImageCalibration:
        path = _calibration_path(self, dataset)
        if path.exists():
            stored = json.loads(path.read_text())
            return ImageCalibration(**{**stored, "held_out_interval": tuple(stored["held_out_interval"])})
        log.info("calibrating image detector %s on %s", self.name, dataset)
        result = calibrate_image_detector(detector, dataset)
        atomic_write_bytes(path, json.dumps(result.to_dict(), indent=1).encode())
        return result


def _calibration_path(config: ImageDetectorConfig, dataset: str) -> Path:
    """The cache file of a calibration: keyed by the models' weights files (themselves keyed by data, settings
    and code), the config, the calibration split and the code that scores."""
    weights = [model_card(kind, dataset, settings).path  # type: ignore[union-attr]  # loaded, hence trained
               for kind, settings in (("classifier", ClassifierTraining()), ("generator", GeneratorTraining()))]
    code = b"".join(Path(module.__file__).read_bytes() for module in (decompress, comparators)) \
        + Path(__file__).read_bytes()
    key = content_key("image-calibration", *weights, json.dumps(asdict(config), sort_keys=True),
                      str((CALIBRATION_IMAGES, HELD_OUT_IMAGES, TARGET_FPR)), code)[:16]
    return cache_dir("images") / f"calibration-{dataset}-{config.name}-{key}.json"


#: The named image detectors (thresholds: calibrated per dataset on first use, see the module doc).
IMAGE_DETECTORS: Registry[ImageDetectorConfig] = Registry(
    "image detector",
    [
        ImageDetectorConfig("residual", "distance of the image to the decided class's generated manifold",
                            "residual"),
        ImageDetectorConfig("evidence", "margin of the decided class's manifold over the nearest other class's",
                            "evidence"),
        # 50 steps: from random starts 20 left the score's spread over seeds (median 0.79) above the threshold
        # (0.40); 50 bring it to 0.15 at about twice the default search's cost
        ImageDetectorConfig("evidence-random", "evidence with a randomised search: 4 random starts per class, "
                            "seeded by a secret and the image, 50 steps", "evidence",
                            SearchSettings(restarts=4, steps=50, random_starts=True)),
    ],
)
