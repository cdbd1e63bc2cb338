"""The image experiment as parts of the one driver (:func:`synthcheck.experiments.pipeline.run_experiment`).

An item is one evaluation test image. Stage ``clean`` classifies it and runs every detector on it (storing the
decided class's codeword and the distances to every class's generated manifold); each attack stage
(``pgd-linf@0.3``: an attack of :data:`~synthcheck.images.attacks.IMAGE_ATTACKS` at a budget, or a
minimal-norm attack such as ``cw-l2``) attacks a batch of images and runs every detector on each adversarial.
The results store, attempts, resuming, the lock and the executors are the speech experiment's; what differs
lives here: the config, the tasks, the workers and the run summary (:class:`ImageRun`).

Evaluation images come after the detectors' calibration images in the test split (a seeded choice among
them), so no threshold is ever judged on the images it was calibrated on. The models are trained with their
fixed seed (0, :mod:`synthcheck.images.training`): ``--seed`` changes the images, the targets and the attacks,
never the networks (retraining takes minutes) nor the detectors' searches (their seed is part of the calibrated
configuration).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from synthcheck.errors import BadInputError
from synthcheck.experiments.config import ItemSpec
from synthcheck.experiments.results import DetectorScore, ItemRecord
from synthcheck.images.data import IMAGE_DATASETS, load_dataset
from synthcheck.images.metrics import ImageMetrics, image_metrics, stage_budget
from synthcheck.images.results import ImageAttackOutcome, ImageCleanResult

#: The attack stages of a default run: the ABS table's budgets through foolbox, the same L∞/L2 attacks
#: through synthcheck's core, minimal-norm C&W and a decision-based attack, and the adaptive attacks.
#: The targeted attacks' budget ladders (the standard budgets and one above: how much each needs to evade).
TARGETED_LADDERS = {"linf": (0.1, 0.2, 0.3, 0.4), "l2": (1, 1.5, 2, 3)}
DEFAULT_IMAGE_ATTACKS: tuple[str, ...] = (
    "pgd-linf@0.1", "pgd-linf@0.2", "pgd-linf@0.3", "pgd-l2@1", "pgd-l2@1.5", "pgd-l2@2",
    "core-pgd-linf@0.3", "core-pgd-l2@2", "cw-l2", "core-cw-linf", "core-cw-l2", "hop-skip-jump",
    *(f"{kind}@{budget:g}" for norm, budgets in TARGETED_LADDERS.items()
      for kind in (f"pgd-{norm}-targeted", f"adaptive-pgd-{norm}", f"joint-pgd-{norm}") for budget in budgets),
)
#: The detectors of a default run (the first is primary).
DEFAULT_IMAGE_DETECTORS: tuple[str, ...] = ("evidence", "residual")


def is_image_stage(stage: str) -> bool:
    """Whether ``stage`` names an image attack stage (an attack kind, with ``@ε`` for fixed-budget ones)."""
    try:
        parse_stage(stage)
    except BadInputError:
        return False
    return True


def parse_stage(stage: str) -> tuple[str, float]:
    """``(attack kind, ε)`` of a stage name (ε NaN for minimal-norm kinds); BadInputError if it names none."""
    from synthcheck.images.attacks import IMAGE_ATTACKS

    kind, at, _ = stage.partition("@")
    if kind not in IMAGE_ATTACKS:
        raise BadInputError(f"unknown image attack {kind!r}; choose from: {', '.join(IMAGE_ATTACKS)} "
                            "(fixed-budget ones with @epsilon, e.g. pgd-linf@0.3)")
    spec = IMAGE_ATTACKS[kind]
    try:
        budget = stage_budget(stage)
    except ValueError:
        raise BadInputError(f"image attack {stage!r}: the budget after @ must be a number, e.g. {kind}@0.3") from None
    if spec.fixed_budget != bool(at):
        hint = f"give its budget, e.g. {kind}@{spec.example_budget:g}" if spec.fixed_budget else "it takes no @budget"
        raise BadInputError(f"image attack {stage!r}: {hint}")
    if at and not (math.isfinite(budget) and budget > 0):
        raise BadInputError(f"image attack {stage!r}: the budget must be a positive number")
    return kind, budget


@dataclass(frozen=True)
class ImageExperimentConfig:
    """Every knob of an image run; serialised with the run and hashed for the resume check.

    Parameters
    ----------
    dataset
        ``mnist`` or ``fashion-mnist``.
    images
        Evaluation test images (after the calibration images, seeded choice).
    detectors
        Image detector configurations (:data:`~synthcheck.images.detector.IMAGE_DETECTORS`), primary first.
    attacks
        Attack stages (see :func:`parse_stage`).
    attack_steps
        Iterations of each gradient attack (decision-based ones: their own query budget, scaled from it).
    attack_batch_size
        Images per attack call.
    seed
        Root seed (image choice, targets, attacks).
    """

    #: The results store's domain of this config (:mod:`synthcheck.experiments.domains`).
    domain: ClassVar[str] = "images"

    dataset: str = "mnist"
    images: int = 200
    detectors: tuple[str, ...] = DEFAULT_IMAGE_DETECTORS
    attacks: tuple[str, ...] = DEFAULT_IMAGE_ATTACKS
    attack_steps: int = 100
    attack_batch_size: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        from synthcheck.images.detector import IMAGE_DETECTORS

        if self.dataset not in IMAGE_DATASETS:
            raise BadInputError(f"unknown image dataset {self.dataset!r}; choose one of: {', '.join(IMAGE_DATASETS)}")
        if not 1 <= self.images <= evaluation_pool_size(self.dataset):
            raise BadInputError(f"images must be between 1 and {evaluation_pool_size(self.dataset)} "
                                f"(the test images not used for calibration), not {self.images}")
        for name, value in (("attack_steps", self.attack_steps), ("attack_batch_size", self.attack_batch_size)):
            if value < 1:
                raise BadInputError(f"{name} must be at least 1, not {value}")
        if not self.detectors:
            raise BadInputError("an image run needs at least one detector")
        for name in self.detectors:
            IMAGE_DETECTORS[name]  # an unknown name is a one-line BadInputError
        if len(set(self.detectors)) != len(self.detectors) or len(set(self.attacks)) != len(self.attacks):
            raise BadInputError("detectors and attacks must not repeat")
        from synthcheck.images.attacks import IMAGE_ATTACKS

        primary = IMAGE_DETECTORS[self.detectors[0]]
        for stage in self.attacks:
            kind = IMAGE_ATTACKS[parse_stage(stage)[0]]
            if kind.needs_randomised_detector and not primary.search.random_starts:
                raise BadInputError(f"image attack {stage!r} attacks a randomised primary detector; put one first "
                                    f"in detectors (e.g. evidence-random), not {primary.name}")

    @classmethod
    def quick(cls, **overrides: Any) -> ImageExperimentConfig:
        """A small run: 16 images, three attacks, 40 steps (tests, a first look)."""
        values = {"images": 16, "attacks": ("pgd-linf@0.3", "core-pgd-l2@2", "cw-l2"), "attack_steps": 40,
                  **{k: v for k, v in overrides.items() if v is not None}}
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageExperimentConfig:
        """Build from a dict such as :meth:`to_dict` output (missing keys take the defaults)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInputError(f"image config: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for name in ("detectors", "attacks"):
            if name in values:
                values[name] = tuple([values[name]] if isinstance(values[name], str) else values[name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise BadInputError(f"image config: {exc}") from None

    from_stored = from_dict

    def with_overrides(self, **overrides: Any) -> ImageExperimentConfig:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def config_hash(self) -> str:
        """Stable 16-hex-digit hash of the canonical JSON form (the resume check)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def items(self) -> list[ItemSpec]:
        """One item per evaluation image, in test-split order: key ``<dataset>/t<index>``, ``sentence`` the true
        class's name (``voice`` and ``snr_db`` are speech fields, unused)."""
        data = load_dataset(self.dataset)
        return [ItemSpec(key=f"{self.dataset}/t{index:05d}", index=int(index),
                         sentence=data.classes[int(data.test.labels[index])], voice="", snr_db=0.0,
                         dataset=self.dataset)
                for index in evaluation_indices(self.dataset, self.images, self.seed)]

    def attacked_items(self) -> list[ItemSpec]:
        """Every item is attacked by every stage (a misclassified clean image is already lost; the attack
        reports it as a success of size 0)."""
        return self.items()

    def item_seed(self, key: str) -> int:
        """Seed of one item (or batch), from the root seed and the key (order-independent)."""
        digest = hashlib.sha256(f"{self.seed}\x00{key}".encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "little") >> 1


def evaluation_pool_size(dataset: str) -> int:
    """How many test images of ``dataset`` are left for evaluation after the calibration images."""
    from synthcheck.images.detector import CALIBRATION_IMAGES

    return len(load_dataset(dataset).test) - CALIBRATION_IMAGES


def evaluation_indices(dataset: str, count: int, seed: int) -> np.ndarray:
    """``count`` test-split indices after the calibration images, a seeded choice, in increasing order."""
    from synthcheck.images.detector import CALIBRATION_IMAGES

    pool = np.arange(CALIBRATION_IMAGES, len(load_dataset(dataset).test))
    return np.sort(np.random.default_rng(seed).choice(pool, size=count, replace=False))


def target_class(config: ImageExperimentConfig, spec: ItemSpec, label: int, n_classes: int) -> int:
    """The target class of a targeted attack on ``spec``: a seeded other class, the same for every stage."""
    offset = 1 + config.item_seed(spec.key + "\x1ftarget") % (n_classes - 1)
    return (label + offset) % n_classes


# --- the plan: tasks and workers of the one driver ---------------------------------------------
@dataclass
class ImageCleanTask:
    """Stage-1 work for one image."""

    config: ImageExperimentConfig
    spec: ItemSpec


@dataclass
class ImageAttackTask:
    """Stage-2 work for one batch of one attack stage: the images (read back from the store), their true labels
    and the batch seed. ``checkpoint``/``checkpoint_seconds`` are the driver's; an image attack batch takes
    seconds to a minute and is recomputed whole after a kill (deterministically, from the same seed)."""

    config: ImageExperimentConfig
    kind: str
    specs: list[ItemSpec]
    images: np.ndarray
    labels: np.ndarray
    seed: int
    checkpoint: str | None = None
    checkpoint_seconds: float = 0.0
    #: Called once with the batch's step count when the batch is done (local executor only).
    on_step: Any = None


@dataclass(frozen=True)
class BatchDone:
    """The progress an image attack batch reports (the driver reads ``step``)."""

    step: int


@dataclass
class ImageStageResult:
    """One image's result of one stage as a worker returns it (the driver's ``ItemStageResult`` shape:
    ``audio`` holds the arrays to store)."""

    key: str
    result: ImageCleanResult | ImageAttackOutcome
    audio: dict[str, np.ndarray]


class ImagePlan:
    """The image experiment's parts for the one driver: tasks, workers, versions and the run summary."""

    def __init__(self, config: ImageExperimentConfig) -> None:
        self.config = config

    @property
    def clean_worker(self) -> Any:
        return run_clean_image

    @property
    def attack_worker(self) -> Any:
        return run_image_attack_batch

    def check_attacks(self) -> None:
        """Fail before any work if an attack needs a library that is missing (foolbox)."""
        from synthcheck.errors import MissingComponentError

        if any(not kind.startswith(("core-", "adaptive-")) for kind in self.config.attacks):
            try:
                import foolbox  # noqa: F401
            except ImportError:
                raise MissingComponentError("the foolbox attacks need foolbox==3.3.4; run scripts/setup.sh "
                                            "(or pick core-/adaptive- attacks only)") from None

    def versions(self) -> dict[str, str]:
        return image_versions(self.config)

    def clean_task(self, spec: ItemSpec) -> ImageCleanTask:
        return ImageCleanTask(self.config, spec)

    def attack_task(self, store: Any, kind: str, specs: list[ItemSpec], clean: list[ImageCleanResult], seed: int,
                    checkpoint: str | None, checkpoint_seconds: float) -> ImageAttackTask:
        images = np.stack([store.read_array(result.audio["image"]) for result in clean]).astype(np.float32)
        labels = np.array([result.label for result in clean], np.int64)
        return ImageAttackTask(self.config, kind, specs, images, labels, seed, checkpoint, checkpoint_seconds)

    def run(self, store: Any, computed: dict[str, int]) -> ImageRun:
        return ImageRun.from_store(store, computed)


@dataclass
class ImageRun:
    """An image run as stored: config, versions, records and metrics (what the report renders)."""

    run_dir: Path
    config: ImageExperimentConfig
    versions: dict[str, str]
    records: list[ItemRecord]
    metrics: ImageMetrics
    wall_seconds: float
    computed: dict[str, int]

    @classmethod
    def from_store(cls, store: Any, computed: dict[str, int] | None = None) -> ImageRun:
        """The run a store holds, with its metrics."""
        config = store.config()
        records = store.records()
        return cls(run_dir=store.run_dir, config=config, versions=store.versions(), records=records,
                   metrics=image_metrics(records, config.detectors, config.attacks), wall_seconds=store.wall_seconds(),
                   computed=computed or {})

    @classmethod
    def read(cls, run_dir: str | Path) -> ImageRun:
        """Open a stored image run directory (for reports)."""
        from synthcheck.experiments.store import ResultsStore

        with ResultsStore.read(run_dir) as store:
            return cls.from_store(store)


def image_versions(config: ImageExperimentConfig) -> dict[str, str]:
    """The software versions of :func:`~synthcheck.experiments.pipeline.software_versions`, foolbox's, and the
    weights files of the dataset's classifier and generator (their names carry the training's content key)."""
    import importlib.metadata

    from synthcheck.experiments.pipeline import software_versions
    from synthcheck.images.classifier import image_classifier
    from synthcheck.images.decompress import image_generator
    from synthcheck.images.training import ClassifierTraining, GeneratorTraining, model_card

    image_classifier(config.dataset)  # trains on first use (minutes), so the cards exist
    image_generator(config.dataset)
    versions = software_versions()
    try:
        versions["foolbox"] = importlib.metadata.version("foolbox")
    except importlib.metadata.PackageNotFoundError:
        pass
    for kind, settings in (("classifier", ClassifierTraining()), ("generator", GeneratorTraining())):
        card = model_card(kind, config.dataset, settings)
        if card is not None:
            versions[f"{kind}_weights"] = Path(card.path).name
    return versions


@lru_cache(maxsize=4)
def _detectors(dataset: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The calibrated detectors of a run (per process; the first call may calibrate, tens of seconds)."""
    from synthcheck.images.detector import IMAGE_DETECTORS

    return {name: IMAGE_DETECTORS[name].build(dataset) for name in names}


def _judge(config: ImageExperimentConfig, images: np.ndarray) -> tuple[list[Any], dict[str, list[DetectorScore]]]:
    """Every detector's verdicts on ``images`` (each classifies and searches), primary's verdicts first."""
    detectors = _detectors(config.dataset, config.detectors)
    verdicts = {name: detector.check_batch(images) for name, detector in detectors.items()}
    scores = {name: [DetectorScore(score=v.score, threshold=v.threshold, consistent=v.consistent,
                                   config=v.detector, seconds=v.timings.total, compare_seconds=v.timings.search)
                     for v in vs] for name, vs in verdicts.items()}
    return verdicts[config.detectors[0]], scores


def run_clean_image(task: ImageCleanTask) -> ImageStageResult:
    """Stage 1 for one test image: classify it, and let every detector judge the decision."""
    start = time.perf_counter()
    config, spec = task.config, task.spec
    test = load_dataset(config.dataset).test
    image = np.array(test.images[spec.index], np.float32)
    primary, scores = _judge(config, image[None])
    verdict = primary[0]
    result = ImageCleanResult(transcript=verdict.class_name, detectors={n: s[0] for n, s in scores.items()},
                              input_seconds=0.0, label=int(test.labels[spec.index]), predicted=verdict.label,
                              class_distances=verdict.distances, compute_seconds=time.perf_counter() - start)
    return ImageStageResult(spec.key, result, {"image": image, "codeword": verdict.codeword})


def run_image_attack_batch(task: ImageAttackTask) -> list[ImageStageResult]:
    """Stage 2 for one batch of one attack stage: attack, then every detector judges each 8-bit adversarial."""
    from synthcheck.images.attacks import IMAGE_ATTACKS, AttackInputs, timed_attack
    from synthcheck.images.classifier import image_classifier

    config = task.config
    name, budget = parse_stage(task.kind)
    kind = IMAGE_ATTACKS[name]
    classifier = image_classifier(config.dataset)
    n_classes = len(classifier.classes)
    targets = np.array([target_class(config, spec, int(label), n_classes) if kind.targeted else -1
                        for spec, label in zip(task.specs, task.labels, strict=True)], np.int64)
    detector = _detectors(config.dataset, config.detectors)[config.detectors[0]] if kind.adaptive else None
    inputs = AttackInputs(task.images, task.labels, targets, budget, config.attack_steps, task.seed, detector)
    adversarials, seconds = timed_attack(kind, classifier, inputs)
    primary, scores = _judge(config, np.stack([a.adversarial for a in adversarials]))
    outputs = []
    for i, (spec, adversarial) in enumerate(zip(task.specs, adversarials, strict=True)):
        result = ImageAttackOutcome(
            transcript=classifier.classes[adversarial.predicted], detectors={n: s[i] for n, s in scores.items()},
            input_seconds=0.0, success=adversarial.success, target=int(targets[i]), predicted=adversarial.predicted,
            norm=kind.norm, budget=budget, l2=adversarial.l2, linf=adversarial.linf, steps=config.attack_steps,
            seconds=seconds / len(adversarials),
        )
        outputs.append(ImageStageResult(spec.key, result, {"adversarial": adversarial.adversarial,
                                                           "codeword": primary[i].codeword}))
    if task.on_step is not None:
        task.on_step(BatchDone(config.attack_steps))
    return outputs


__all__ = ["DEFAULT_IMAGE_ATTACKS", "DEFAULT_IMAGE_DETECTORS", "ImageExperimentConfig", "ImagePlan", "ImageRun",
           "evaluation_indices", "image_versions", "is_image_stage", "parse_stage", "run_clean_image",
           "run_image_attack_batch", "target_class"]
