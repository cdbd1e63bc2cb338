"""Attacks on the image classifier: foolbox 3's PGD, C&W and HopSkipJump, synthcheck's own PGD, and the
adaptive PGD that also attacks the detector.

Every attack returns one :class:`ImageAdversarial` per image whose perturbation is quantised to whole **8-bit
steps** (multiples of 1/255, clipped to [0, 1]): success is re-checked by the classifier on that quantised
image, and its L2/L∞ size on [0, 1] pixels is of the quantised perturbation (a fixed-budget attack's quantised
perturbation is kept inside its budget: rounded, or truncated toward zero when rounding would leave the ball).
The adversarial itself is not on the 8-bit grid where the clean image is not: the MNIST pickle's pixels are
multiples of 1/256, and quantising the image instead would move unperturbed pixels.

Kinds (:data:`IMAGE_ATTACKS`, the experiment's stage names; ``@ε`` for fixed-budget ones):

* ``pgd-linf``, ``pgd-l2`` (untargeted) and ``pgd-linf-targeted``, ``pgd-l2-targeted`` — foolbox ``LinfPGD`` /
  ``L2PGD`` with a random start (Madry et al.).
* ``core-pgd-linf``, ``core-pgd-l2`` (untargeted) — the same projected gradient ascent written here
  (:func:`projected_gradient_attack`), so it can carry a detector term; checked against foolbox in the tests.
* ``cw-l2`` — foolbox ``L2CarliniWagnerAttack``, minimal-norm, untargeted.
* ``core-cw-linf``, ``core-cw-l2`` — the minimal-norm Carlini & Wagner loop the speech attacks use
  (:class:`~synthcheck.attacks.base.Attack` with the image domain's hooks and the speech criteria,
  :mod:`synthcheck.images.core_attack`), in its L∞ box or its L2 ball, untargeted.
* ``hop-skip-jump`` — foolbox ``HopSkipJumpAttack`` (L2), decision-based: it sees only decided labels, so it
  tests that the classifier's robustness is not a gradient-masking artefact.
* ``adaptive-pgd-linf``, ``adaptive-pgd-l2`` (targeted) — the white-box adaptive attack on classifier +
  detector: PGD on the classifier's margin for the target class plus λ times the detector's penalty, whose
  gradient goes through the latent search by BPDA (the search runs on the current adversarial each step; the
  residual is differentiated with the found latents held fixed, exact by Danskin's theorem). As for every
  kind, ``success`` means classified as the target; an *evasion* (:mod:`synthcheck.images.metrics`) is a
  success the detector accepts.
* ``joint-pgd-linf``, ``joint-pgd-l2`` (targeted) — the joint attack of an attacker who knows the generator:
  PGD on the classifier's margin for the target minus λ‖y − G(z, t)‖, optimising the perturbation and the
  attacker's own target-class latent z together (z starts at the search's c_t of the clean image and follows
  Adam steps; no search runs inside the loop, so it is cheaper than the BPDA attack and needs no surrogate).
* ``eot-pgd-linf``, ``eot-pgd-l2`` (targeted) — the adaptive attack on a *randomised* detector (random search
  starts seeded by a secret and the image, e.g. ``evidence-random``) by an attacker who knows everything but
  the secret: each step's detector term is the mean over :data:`EOT_SAMPLES` copies of the check with the
  attacker's own seeds (Expectation over Transformation, Athalye et al. 2018). ``adaptive-pgd-*`` against the
  same detector is the attacker who also knows the secret.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from synthcheck.errors import BadInputError
from synthcheck.images.classifier import ImageClassifier
from synthcheck.registry import Registry

#: Pixel levels of the stored images (8 bit).
LEVELS = 255
#: Weight of the detector's penalty in the adaptive attacks' loss (margin units per unit of score).
ADAPTIVE_WEIGHT = 1.0
#: Copies of a randomised check an EOT attack averages per step.
EOT_SAMPLES = 4


@dataclass(frozen=True)
class ImageAdversarial:
    """One attacked image: the 8-bit ``adversarial`` [28, 28], whether it succeeded, its decided class and size."""

    adversarial: np.ndarray
    success: bool
    predicted: int
    l2: float
    linf: float


@dataclass(frozen=True)
class AttackInputs:
    """What an attack gets: images ``[n, 28, 28]`` in [0, 1], true labels, targets (-1: untargeted), budget ε
    (NaN: minimal-norm), iterations and seed; ``detector`` is the defence an adaptive attack knows."""

    images: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    budget: float
    steps: int
    seed: int
    detector: Any = None


@dataclass(frozen=True)
class ImageAttackKind:
    """A named image attack: its norm, whether it takes a budget, whether it is targeted, and how it runs."""

    name: str
    description: str
    norm: str
    fixed_budget: bool
    targeted: bool
    run: Callable[[ImageClassifier, AttackInputs], np.ndarray]
    adaptive: bool = False
    needs_randomised_detector: bool = False

    @property
    def example_budget(self) -> float:
        return 0.3 if self.norm == "linf" else 2.0

    def attack(self, classifier: ImageClassifier, inputs: AttackInputs) -> list[ImageAdversarial]:
        """Run the attack and quantise and confirm its adversarials."""
        _check_inputs(classifier, inputs, self)
        with torch.random.fork_rng():
            torch.manual_seed(inputs.seed)
            raw = self.run(classifier, inputs)
        return confirm(classifier, inputs, raw, self.norm if self.fixed_budget else "", self.targeted)


def confirm(classifier: ImageClassifier, inputs: AttackInputs, raw: np.ndarray, bounded_norm: str,
            targeted: bool) -> list[ImageAdversarial]:
    """Quantise ``raw`` adversarials to 8 bit (inside the budget of ``bounded_norm`` if given) and confirm them."""
    clean = inputs.images.reshape(len(raw), -1).astype(np.float64)
    delta = np.round((raw.reshape(len(raw), -1) - clean) * LEVELS)
    if bounded_norm == "linf":
        limit = math.floor(inputs.budget * LEVELS + 1e-6)
        delta = np.clip(delta, -limit, limit)
    elif bounded_norm == "l2":
        over = np.linalg.norm(delta, axis=1) > inputs.budget * LEVELS
        delta[over] = np.trunc((raw.reshape(len(raw), -1)[over] - clean[over]) * LEVELS)
    adversarial = np.clip(clean * LEVELS + delta, 0, LEVELS) / LEVELS
    delta = adversarial - clean
    predicted = classifier.predict(adversarial.astype(np.float32))
    hit = predicted == inputs.targets if targeted else predicted != inputs.labels
    return [ImageAdversarial(adversarial[i].reshape(28, 28).astype(np.float32), bool(hit[i]), int(predicted[i]),
                             float(np.linalg.norm(delta[i])), float(np.abs(delta[i]).max()))
            for i in range(len(raw))]


def _check_inputs(classifier: ImageClassifier, inputs: AttackInputs, kind: ImageAttackKind) -> None:
    images = inputs.images
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise BadInputError(f"attack: images must be [n, 28, 28], got {list(images.shape)}")
    n = len(images)
    if n == 0:
        raise BadInputError("attack: no images to attack; give at least one")
    if len(inputs.labels) != n or len(inputs.targets) != n:
        raise BadInputError(f"attack: {n} images need {n} labels and {n} targets, got {len(inputs.labels)} and "
                            f"{len(inputs.targets)}")
    if kind.fixed_budget and not (math.isfinite(inputs.budget) and inputs.budget > 0):
        raise BadInputError(f"attack: {kind.name} needs a positive finite budget ε, got {inputs.budget}")
    if inputs.steps < 1:
        raise BadInputError(f"attack: steps must be at least 1, got {inputs.steps}")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise BadInputError("attack: images must be finite and in [0, 1]")
    n_classes = len(classifier.classes)
    if kind.targeted and ((inputs.targets < 0) | (inputs.targets >= n_classes) | (inputs.targets == inputs.labels)).any():
        raise BadInputError(f"attack: targets must be classes 0..{n_classes - 1} other than the true label")


# --- foolbox ---------------------------------------------------------------------------------
def _foolbox(build: Callable[[int], Any], targeted: bool) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    def run(classifier: ImageClassifier, inputs: AttackInputs) -> np.ndarray:
        import foolbox

        model = foolbox.PyTorchModel(classifier.model, bounds=(0, 1))
        images = torch.from_numpy(np.array(inputs.images, np.float32))
        criterion = (foolbox.criteria.TargetedMisclassification(torch.from_numpy(inputs.targets)) if targeted
                     else foolbox.criteria.Misclassification(torch.from_numpy(inputs.labels)))
        epsilon = inputs.budget if math.isfinite(inputs.budget) else None
        _, clipped, _ = build(inputs.steps)(model, images, criterion, epsilons=epsilon)
        return clipped.detach().numpy()

    return run


# --- synthcheck's own PGD ------------------------------------------------------------------------
def projected_gradient_attack(classifier: ImageClassifier, inputs: AttackInputs, norm: str,
                              penalty: Callable[[Tensor, Tensor], Tensor] | None = None) -> np.ndarray:
    """Projected gradient ascent on the C&W margin (untargeted: best other logit − true logit; targeted: target
    logit − best other), random start in the ball, step 2.5·ε/steps, projection onto the ε ball of ``norm`` and
    [0, 1]; ``ADAPTIVE_WEIGHT · penalty(y, target)`` is subtracted (the adaptive attacks' detector term). A
    penalty with ``parameters`` (a :class:`ManifoldTerm`) is differentiated in them too and its ``update``
    called with their gradients each step. The iterate with the best loss is kept per image."""
    x = torch.from_numpy(np.array(inputs.images, np.float32)).reshape(len(inputs.images), -1)
    eps, targeted = inputs.budget, bool((inputs.targets >= 0).all())
    labels, targets = torch.from_numpy(np.array(inputs.labels)), torch.from_numpy(np.array(inputs.targets))
    step = 2.5 * eps / inputs.steps
    delta = _project(_random_start(x, eps, norm), eps, norm)
    best = (x + delta).clone()
    best_loss = torch.full((len(x),), -math.inf)
    for _ in range(inputs.steps):
        delta.requires_grad_(True)
        y = (x + delta).clamp(0, 1)
        logits = classifier.logits(y)
        margin = _margin(logits, targets if targeted else labels, targeted)
        loss = margin - (ADAPTIVE_WEIGHT * penalty(y, targets) if penalty is not None else 0.0)
        params = list(getattr(penalty, "parameters", ()))
        grad, *param_grads = torch.autograd.grad(loss.sum(), [delta, *params])
        if param_grads:
            penalty.update(param_grads)  # type: ignore[union-attr]
        with torch.no_grad():
            improved = loss > best_loss
            best[improved], best_loss[improved] = y[improved], loss[improved]
            move = grad.sign() if norm == "linf" else grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            delta = _project(delta + step * move, eps, norm)
            delta = (x + delta).clamp(0, 1) - x
    return best.reshape(inputs.images.shape).numpy()


def _margin(logits: Tensor, classes: Tensor, targeted: bool) -> Tensor:
    chosen = logits.gather(1, classes[:, None])[:, 0]
    others = logits.scatter(1, classes[:, None], -math.inf).max(1).values
    return (chosen - others if targeted else others - chosen).clamp(max=5.0)


def _random_start(x: Tensor, eps: float, norm: str) -> Tensor:
    noise = torch.rand_like(x) * 2 - 1
    return eps * noise if norm == "linf" else eps * 0.5 * noise / noise.norm(dim=1, keepdim=True)


def _project(delta: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    scale = (eps / delta.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale


def _core(norm: str) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    return lambda classifier, inputs: projected_gradient_attack(classifier, inputs, norm)


def _adaptive(norm: str) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    def run(classifier: ImageClassifier, inputs: AttackInputs) -> np.ndarray:
        if inputs.detector is None:
            raise BadInputError("an adaptive image attack needs the detector it attacks")
        return projected_gradient_attack(classifier, inputs, norm,
                                         penalty=lambda y, targets: inputs.detector.penalty(y, targets)[0])

    return run


class ManifoldTerm:
    """‖y − G(z, t)‖ of the joint attack, with the attacker's own latents ``z [n, d]`` (one per image, of its
    target class t) as parameters, moved by Adam to decrease the term and kept in the search's ball."""

    def __init__(self, detector: Any, images: np.ndarray, targets: np.ndarray, learning_rate: float = 0.05) -> None:
        search = detector.search
        self.generator, self.radius = search.generator, search.settings.radius
        start = search.search(images).latents[np.arange(len(images)), targets]
        self.latents = torch.from_numpy(np.array(start, np.float32)).requires_grad_(True)
        self.targets = torch.from_numpy(targets)
        self.parameters = (self.latents,)
        self._optimizer = torch.optim.Adam([self.latents], lr=learning_rate)

    def __call__(self, y: Tensor, targets: Tensor) -> Tensor:
        codewords = self.generator.generate_class(self.latents, self.targets)
        return (y.reshape(len(y), -1) - codewords).norm(dim=1)

    def update(self, grads: list[Tensor]) -> None:
        """One Adam step of the latents from ``grads`` (of the attack's loss, which the term lowers)."""
        self.latents.grad = -grads[0]  # the loss falls with the term: descend the term (Adam is scale-free)
        self._optimizer.step()
        with torch.no_grad():
            norms = self.latents.norm(dim=1, keepdim=True)
            self.latents.mul_((self.radius / norms.clamp_min(1e-12)).clamp(max=1.0))


def _joint(norm: str) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    def run(classifier: ImageClassifier, inputs: AttackInputs) -> np.ndarray:
        if inputs.detector is None:
            raise BadInputError("a joint image attack needs the detector whose generator it uses")
        term = ManifoldTerm(inputs.detector, inputs.images, inputs.targets)
        return projected_gradient_attack(classifier, inputs, norm, penalty=term)

    return run


def _core_cw(norm: str) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    def run(classifier: ImageClassifier, inputs: AttackInputs) -> np.ndarray:
        from synthcheck.images.core_attack import core_cw

        return core_cw(classifier, inputs.images, inputs.labels, inputs.targets, inputs.steps, inputs.seed, norm)

    return run


def _eot(norm: str) -> Callable[[ImageClassifier, AttackInputs], np.ndarray]:
    def run(classifier: ImageClassifier, inputs: AttackInputs) -> np.ndarray:
        detector = inputs.detector
        if detector is None:
            raise BadInputError("an EOT image attack needs the detector it attacks")
        if not detector.search.randomised:
            raise BadInputError(f"an EOT image attack needs a randomised detector (e.g. evidence-random), not "
                                f"{detector.name}; against a deterministic one use adaptive-pgd-{norm}")
        seeds = np.random.default_rng(inputs.seed).integers(2**62, size=EOT_SAMPLES)
        copies = [detector.with_search_seed(int(seed)) for seed in seeds]

        def penalty(y: Tensor, targets: Tensor) -> Tensor:
            return torch.stack([copy.penalty(y, targets)[0] for copy in copies]).mean(0)

        return projected_gradient_attack(classifier, inputs, norm, penalty=penalty)

    return run


def _linf_pgd(steps: int) -> Any:
    import foolbox

    return foolbox.attacks.LinfPGD(steps=steps, rel_stepsize=2.5 / steps)


def _l2_pgd(steps: int) -> Any:
    import foolbox

    return foolbox.attacks.L2PGD(steps=steps, rel_stepsize=2.5 / steps)


def _cw(steps: int) -> Any:
    import foolbox

    return foolbox.attacks.L2CarliniWagnerAttack(binary_search_steps=5, steps=steps, stepsize=0.05)


def _hop_skip_jump(steps: int) -> Any:
    import foolbox

    return foolbox.attacks.HopSkipJumpAttack(steps=max(4, steps // 10), max_gradient_eval_steps=1000)


#: The image attacks (stage names of an image run; fixed-budget ones take ``@ε``).
IMAGE_ATTACKS: Registry[ImageAttackKind] = Registry("image attack", [
    ImageAttackKind("pgd-linf", "foolbox LinfPGD, untargeted", "linf", True, False, _foolbox(_linf_pgd, False)),
    ImageAttackKind("pgd-l2", "foolbox L2PGD, untargeted", "l2", True, False, _foolbox(_l2_pgd, False)),
    ImageAttackKind("pgd-linf-targeted", "foolbox LinfPGD to a seeded other class", "linf", True, True,
                    _foolbox(_linf_pgd, True)),
    ImageAttackKind("pgd-l2-targeted", "foolbox L2PGD to a seeded other class", "l2", True, True,
                    _foolbox(_l2_pgd, True)),
    ImageAttackKind("core-pgd-linf", "synthcheck's PGD (L∞), untargeted", "linf", True, False, _core("linf")),
    ImageAttackKind("core-pgd-l2", "synthcheck's PGD (L2), untargeted", "l2", True, False, _core("l2")),
    ImageAttackKind("cw-l2", "foolbox Carlini & Wagner L2, minimal norm, untargeted", "l2", False, False,
                    _foolbox(_cw, False)),
    ImageAttackKind("core-cw-linf", "synthcheck's attack loop (the speech attacks' C&W L∞ loop, image hooks), "
                    "minimal norm, untargeted", "linf", False, False, _core_cw("linf")),
    ImageAttackKind("core-cw-l2", "synthcheck's attack loop with its L2 ball (image hooks), minimal norm, "
                    "untargeted", "l2", False, False, _core_cw("l2")),
    ImageAttackKind("hop-skip-jump", "foolbox HopSkipJump (L2), decision-based, minimal norm, untargeted", "l2",
                    False, False, _foolbox(_hop_skip_jump, False)),
    ImageAttackKind("adaptive-pgd-linf", "PGD (L∞) on classifier margin + detector penalty (BPDA through the "
                    "search), targeted", "linf", True, True, _adaptive("linf"), adaptive=True),
    ImageAttackKind("adaptive-pgd-l2", "PGD (L2) on classifier margin + detector penalty (BPDA through the "
                    "search), targeted", "l2", True, True, _adaptive("l2"), adaptive=True),
    ImageAttackKind("joint-pgd-linf", "PGD (L∞) on classifier margin − λ·distance to the target's generated "
                    "manifold, perturbation and latent optimised together, targeted", "linf", True, True,
                    _joint("linf"), adaptive=True),
    ImageAttackKind("joint-pgd-l2", "PGD (L2) on classifier margin − λ·distance to the target's generated "
                    "manifold, perturbation and latent optimised together, targeted", "l2", True, True,
                    _joint("l2"), adaptive=True),
    ImageAttackKind("eot-pgd-linf", "PGD (L∞) on classifier margin + a randomised detector's penalty averaged "
                    "over the attacker's own draws of its random starts (EOT), targeted", "linf", True, True,
                    _eot("linf"), adaptive=True, needs_randomised_detector=True),
    ImageAttackKind("eot-pgd-l2", "PGD (L2) on classifier margin + a randomised detector's penalty averaged "
                    "over the attacker's own draws of its random starts (EOT), targeted", "l2", True, True,
                    _eot("l2"), adaptive=True, needs_randomised_detector=True),
])


def timed_attack(kind: ImageAttackKind, classifier: ImageClassifier,
                 inputs: AttackInputs) -> tuple[list[ImageAdversarial], float]:
    """``kind.attack`` and its wall time."""
    start = time.perf_counter()
    results = kind.attack(classifier, inputs)
    return results, time.perf_counter() - start


__all__ = ["IMAGE_ATTACKS", "AttackInputs", "ImageAdversarial", "ImageAttackKind", "confirm",
           "projected_gradient_attack", "timed_attack"]
