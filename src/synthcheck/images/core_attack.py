"""The image classifier attacked through synthcheck's own attack loop (:class:`~synthcheck.attacks.base.Attack`,
the one the speech attacks use): the image domain's hooks and the classifier seen as a recogniser.

The loop is domain-agnostic: it asks a :class:`~synthcheck.attacks.base.Domain` for input checks, the valid
range, quantisation and distortion, and a :class:`~synthcheck.asr.base.DifferentiableRecognizer` for the loss,
the success mask and decoding; success is a :class:`~synthcheck.attacks.criteria.Criterion`. For images:

* :class:`ImageDomain` — flat 784-pixel images in [0, 1]; bounds, learning rates and noise in 8-bit steps
  (``scale`` 255). Its ``quantize`` keeps the pixels as they are: the image kinds quantise the *perturbation*
  afterwards (:func:`synthcheck.images.attacks.confirm`), because the MNIST pickle's pixels are k/256.
* :class:`ClassifierRecognizer` — a "transcript" is the decided class index as text (``"7"``), so the speech
  criteria apply unchanged: :class:`~synthcheck.attacks.criteria.WordErrorAbove` (threshold 0.5: another class)
  is the untargeted criterion, :class:`~synthcheck.attacks.criteria.TargetText` the targeted one. The loss of a
  label is Carlini & Wagner's margin ``max_{k≠t} logit_k − logit_t``, unclipped: the untargeted criterion
  maximises it for the true label, where a clip at −κ would leave a confidently classified image no gradient
  (the loop's shrinking box, not κ, ends the push).

The loop is the minimal-norm attack of Carlini & Wagner: steps on δ inside a bound that shrinks to 0.8 times the
size of every success, the smallest confirmed adversarial kept. In L∞ (Adam steps in an 8-bit box, kind
``core-cw-linf``) it is the speech attacks' loop as it is; in L2 (the loop's ``norm="l2"``: normalised-gradient steps, δ projected
onto a ball, kind ``core-cw-l2``) it is the image counterpart of foolbox's ``L2CarliniWagnerAttack``, with the
shrinking ball in place of C&W's binary search over the loss weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from synthcheck.asr.base import DifferentiableRecognizer
from synthcheck.attacks.base import Attack, AttackConfig
from synthcheck.attacks.criteria import TargetText, WordErrorAbove
from synthcheck.audio.metrics import db_x, snr_db
from synthcheck.errors import BadInputError
from synthcheck.images.classifier import ImageClassifier
from synthcheck.images.io import validate_image
from synthcheck.images.models import N_PIXELS

#: The loop's starting bound per norm in 8-bit steps: a box of ±128 steps (0.5), or a ball of L2 radius 5.0 on
#: [0, 1] pixels (the loop's minimal L2 adversarials of 16 MNIST test images measured 0.7–3.7).
INITIAL_BOUND = {"linf": 128.0, "l2": 5.0 * 255.0}
#: Steps per norm in 8-bit steps: Adam steps of 2 (0.008 on [0, 1] pixels), or normalised-gradient steps of L2
#: length 10 (0.04; on 32 test images 5 broke only 18, 20 and 50 gave a median L2 0.02–0.03 larger); the default shrink 0.8.
LEARNING_RATE = {"linf": 2.0, "l2": 10.0}


class ImageDomain:
    """Hooks of the attack loop for images of 784 pixels in [0, 1] (8-bit steps)."""

    scale: float = 255.0

    def check_input(self, data: np.ndarray, index: int) -> np.ndarray:
        """Image ``index`` as flat float32 [784] if it is a finite 28×28 image in [0, 1]."""
        return validate_image(data, name=f"image {index}").reshape(N_PIXELS)

    def project(self, inputs: Tensor) -> Tensor:
        """Pixels clamped into [0, 1]."""
        return inputs.clamp(0.0, 1.0)

    def quantize(self, item: np.ndarray) -> np.ndarray:
        """The item as float32 (the perturbation is quantised later, see the module doc)."""
        return np.asarray(item, np.float32)

    def distortion(self, original: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
        """The loop's distortion fields: ``db_x`` (20·log10 of max|δ| over max|x|) and the energy SNR, as for
        audio; the attenuation-fitted SNR is audio's and NaN here."""
        delta = adversarial.astype(np.float64) - original
        return {"db_x": db_x(delta, original), "snr_db": snr_db(original, delta), "fitted_snr_db": math.nan}


class ClassifierRecognizer(DifferentiableRecognizer):
    """An :class:`ImageClassifier` behind the recogniser interface: transcripts are class indices as text."""

    max_target_tokens = 1

    def __init__(self, classifier: ImageClassifier) -> None:
        self.classifier = classifier
        self.name = classifier.name

    def tokenize(self, text: str) -> list[int]:
        """``[class index]`` of a label such as ``"7"``; BadInputError for anything else."""
        label = text.strip()
        if not (label.isdigit() and int(label) < len(self.classifier.classes)):
            raise BadInputError(f"image labels are class indices 0..{len(self.classifier.classes) - 1}, got {text!r}")
        return [int(label)]

    def encode(self, audio: Tensor) -> Tensor:
        """The logits ``[B, 1, C]`` (the classifier's compressed representation z)."""
        return self.classifier.logits(audio).unsqueeze(1)

    def loss_and_success(self, audio: Tensor, targets: Sequence[str],
                         reduction: str = "none") -> tuple[Tensor, np.ndarray]:
        """C&W margin loss of each label ``max_{k≠t} logit_k − logit_t`` and whether t is decided."""
        labels = torch.tensor([self.tokenize(t)[0] for t in targets])
        logits = self.classifier.logits(audio)
        chosen = logits.gather(1, labels[:, None])[:, 0]
        others = logits.scatter(1, labels[:, None], -math.inf).max(1).values
        loss = others - chosen
        success = (logits.argmax(1) == labels).numpy()
        return (loss.sum() if reduction == "sum" else loss.mean() if reduction == "mean" else loss), success

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """The decided class index of each image, as text."""
        return [str(int(c)) for c in self.classifier.predict(np.stack([np.asarray(a, np.float32) for a in audios]))]


def core_cw(classifier: ImageClassifier, images: np.ndarray, labels: np.ndarray, targets: np.ndarray,
            steps: int, seed: int, norm: str) -> np.ndarray:
    """Minimal-norm adversarials ``[n, 28, 28]`` in ``norm`` (``"linf"`` or ``"l2"``) through the attack loop
    (targets −1: untargeted)."""
    targeted = bool((targets >= 0).all())
    criterion = (TargetText([str(int(t)) for t in targets]) if targeted
                 else WordErrorAbove([str(int(y)) for y in labels], threshold=0.5))
    config = AttackConfig(max_steps=steps, norm=norm, initial_bound=INITIAL_BOUND[norm], learning_rate=LEARNING_RATE[norm],
                          check_every=1, init_noise=1.0, seed=seed)
    attack = Attack(ClassifierRecognizer(classifier), config, kind=f"core-cw-{norm}", domain=ImageDomain())
    results = attack.run(list(np.asarray(images, np.float32).reshape(len(images), N_PIXELS)), criterion)
    return np.stack([r.adversarial for r in results]).reshape(images.shape)


__all__ = ["ClassifierRecognizer", "ImageDomain", "core_cw"]
