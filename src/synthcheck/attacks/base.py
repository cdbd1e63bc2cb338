"""The white-box attack loop (Carlini & Wagner style, L∞ bound), the same for every criterion and domain.

An attack perturbs each input ``x`` by ``δ`` with ``‖δ‖∞ ≤ τ`` (per item, in units of ``1/domain.scale``: for
audio, 16-bit steps) and minimises its criterion's objective (:mod:`synthcheck.attacks.criteria`) with Adam.
Whenever an item meets the criterion, its bound shrinks to ``shrink · max|δ|`` and the quantised adversarial (what
the domain stores) is kept as a candidate, so the reported perturbation is the smallest one found. At the end
every item is confirmed by a real greedy decode of its quantised adversarial; the reported ``success`` is that
confirmed one (never the optimiser's belief).

What the loop needs from outside comes from three objects:

* the :class:`~synthcheck.attacks.criteria.Criterion` (per run): the labels, the objective, the per-step success
  mask or decode, and the final decision;
* the :class:`Domain` hooks (per attack, default :class:`~synthcheck.attacks.audio_domain.AudioDomain`): input
  checks, the valid range, quantisation, the scale of bounds and the distortion measures of the result;
* an optional :class:`Penalty` (per attack, e.g. :class:`~synthcheck.attacks.adaptive.DetectorPenalty`): a term
  ``detector_weight · penalty`` added to the objective, whose acceptance every success and every confirmed
  candidate also needs (the adaptive attacks).

The loop's own distortion measure (``stop_db_x``, progress) is the C&W ``dB_x = 20·log10(max|δ| / max|x|)``.

Given an :class:`~synthcheck.attacks.checkpoint.AttackCheckpoint`, the loop saves its whole state every few
seconds and when it ends, and resumes from a checkpoint of the same batch: a killed run loses at most that
interval, and the resumed run's results are bit-identical to an uninterrupted one's.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from synthcheck.asr.base import DifferentiableRecognizer, Recognizer, require_differentiable
from synthcheck.attacks.audio_domain import AudioDomain
from synthcheck.attacks.batch import AttackBatch, pad_batch
from synthcheck.attacks.checkpoint import AttackCheckpoint
from synthcheck.attacks.criteria import Criterion
from synthcheck.attacks.result import AttackProgress, AttackResult
from synthcheck.cache import content_key
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: How many of the latest successful candidates per item are kept for the final confirmation.
KEEP_CANDIDATES = 3

#: Norms of :attr:`AttackConfig.norm`: the loop's box (L∞) or ball (L2).
NORMS = ("linf", "l2")


class Domain(Protocol):
    """The hooks of everything domain-specific the loop does (see :class:`~.audio_domain.AudioDomain`)."""

    #: Full scale: bounds, learning rates and noise are in units of ``1/scale``.
    scale: float

    def check_input(self, data: np.ndarray, index: int) -> np.ndarray:
        """Input ``index`` as a 1-D float32 array, or a :class:`BadInputError` saying what is wrong."""

    def project(self, inputs: torch.Tensor) -> torch.Tensor:
        """The batch ``[B, T]`` clamped into the valid range (differentiable)."""

    def quantize(self, item: np.ndarray) -> np.ndarray:
        """One unpadded item as it would be stored (what candidates and results hold)."""

    def distortion(self, original: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
        """The distortion fields of :class:`~synthcheck.attacks.result.AttackResult`."""


class Penalty(Protocol):
    """A second party the attack must satisfy too (e.g. a detector): a loss term and its acceptance."""

    def __call__(self, batch: AttackBatch) -> tuple[torch.Tensor, np.ndarray]:
        """``(penalty [B], accepted [B])`` of the current batch; the penalty is differentiable."""

    def accepts(self, inputs: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """Per-item bool for unpadded stored inputs (no gradients)."""

    def to_dict(self) -> dict[str, Any]:
        """Its settings (stored in results' ``config`` and the checkpoint key)."""


@dataclass
class AttackConfig:
    """Settings of an attack (bounds, rates and noise in units of ``1/domain.scale``: 16-bit steps for audio).

    Attributes
    ----------
    max_steps
        Optimiser steps at most.
    norm
        ``"linf"`` (default; Carlini & Wagner's audio attack): Adam steps, δ kept in the box ``|δ_k| ≤ τ``;
        ``"l2"``: normalised-gradient steps ``δ ← δ − lr·g/‖g‖₂`` (the L2 steepest descent of L2 PGD; Adam's
        per-sample steps would give δ the flat shape of an L∞ attack), δ kept in the ball ``‖δ‖₂ ≤ τ``. On a
        success τ shrinks to ``shrink`` times the success's own size in that norm, so the loop is a minimal-norm
        attack in either.
    initial_bound
        Starting bound τ (Carlini & Wagner use an L∞ box of 2000 16-bit steps); for L∞ at most the domain's full
        scale. For L2 it is a radius in the same units (an L2 radius of a whole item can exceed the scale).
    learning_rate
        Adam step size (L∞), or the length of each normalised-gradient step (L2).
    shrink
        On success the bound becomes ``shrink`` times the success's size in :attr:`norm` (``max|δ|`` or ``‖δ‖₂``).
    l2_weight
        Optional C&W penalty ``l2_weight · ‖δ/τ₀‖²/n`` (n samples of the item) added to the objective (0 disables it).
    time_budget_s
        Stop after this many seconds of optimisation (None: no limit).
    init_noise
        δ starts uniform in ±init_noise: about 7 % of samples get exactly zero gradient at δ=0.
    check_every
        Check the success criterion every this many steps (None: the criterion's
        :attr:`~synthcheck.attacks.criteria.Criterion.check_every`, 1 for a target text, 10 for a word error rate).
    stop_db_x
        Stop early once every item has a success at or below this dB_x (None: run all steps).
    detector_weight
        λ of the :class:`Penalty` term (the adaptive attacks' detector); unused without a penalty.
    seed
        Seed of the torch generator for the initial noise: same seed, same result.
    """

    max_steps: int = 1000
    norm: str = "linf"
    initial_bound: float = 2000.0
    learning_rate: float = 20.0
    shrink: float = 0.8
    l2_weight: float = 0.0
    time_budget_s: float | None = None
    init_noise: float = 8.0
    check_every: int | None = None
    stop_db_x: float | None = None
    detector_weight: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise BadInputError(f"max_steps must be at least 1 (with {self.max_steps} steps the attack never runs)")
        if self.norm not in NORMS:
            raise BadInputError(f"unknown norm {self.norm!r}; choose one of: {', '.join(NORMS)}")
        if not self.initial_bound > 0:  # NaN too
            raise BadInputError(f"initial_bound must be > 0, got {self.initial_bound}")
        if not self.learning_rate > 0:
            raise BadInputError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 < self.shrink < 1:
            raise BadInputError(f"shrink must be in (0, 1), got {self.shrink}")
        if self.check_every is not None and self.check_every < 1:
            raise BadInputError(f"check_every must be >= 1 (or None: the criterion's own), got {self.check_every}")
        if self.init_noise < 0 or self.l2_weight < 0:
            raise BadInputError("init_noise and l2_weight must be >= 0")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise BadInputError(f"time_budget_s must be > 0 or None, got {self.time_budget_s}")
        if not self.detector_weight >= 0:
            raise BadInputError(f"detector_weight must be >= 0, got {self.detector_weight}")

    def check_scale(self, scale: float) -> None:
        """Refuse an L∞ ``initial_bound`` above a domain's full ``scale`` (e.g. 32768 for 16-bit audio)."""
        if self.norm == "linf" and self.initial_bound > scale:
            raise BadInputError(f"initial_bound must be in (0, {scale:g}] (steps of 1/{scale:g}), got {self.initial_bound}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the settings (with the config class name under ``"type"``)."""
        return {"type": type(self).__name__, **asdict(self)}


class Attack:
    """A batched white-box attack on a differentiable recogniser, for any criterion.

    Parameters
    ----------
    recognizer
        The attacked recogniser; it must be differentiable (:attr:`requires`).
    config
        Loop settings (default :class:`AttackConfig`).
    kind
        Attack kind stored with the results (default: the criterion's, ``"targeted"`` or ``"untargeted"``);
        :meth:`AttackKind.build <synthcheck.attacks.kinds.AttackKind.build>` sets the kind's name.
    domain
        The domain hooks (default :class:`~synthcheck.attacks.audio_domain.AudioDomain`).
    penalty
        A second party to satisfy, weighted by ``config.detector_weight`` (None: the recogniser alone).

    Raises
    ------
    BadInputError
        The recogniser has no gradients, or ``config.initial_bound`` exceeds the domain's scale.
    """

    #: The recogniser interface the attack uses (as ART's ``_estimator_requirements``), checked once in ``__init__``.
    requires: type[DifferentiableRecognizer] = DifferentiableRecognizer

    def __init__(
        self,
        recognizer: Recognizer,
        config: AttackConfig | None = None,
        *,
        kind: str | None = None,
        domain: Domain | None = None,
        penalty: Penalty | None = None,
    ) -> None:
        self.recognizer = require_differentiable(
            recognizer, type(self).__name__, f", and check transfer to {recognizer.name!r} instead", self.requires
        )
        self.config = config or AttackConfig()
        self.kind = kind
        self.domain: Domain = domain or AudioDomain()
        self.config.check_scale(self.domain.scale)
        self.penalty = penalty

    def run(
        self,
        inputs: Sequence[np.ndarray],
        criterion: Criterion,
        *,
        progress: Callable[[AttackProgress], None] | None = None,
        checkpoint: AttackCheckpoint | None = None,
    ) -> list[AttackResult]:
        """Attack a batch of inputs (different lengths allowed) and return one result per item.

        Parameters
        ----------
        inputs
            Items the domain accepts (audio: 1-D float32 16 kHz utterances in [-1, 1], each 0.1–30 s, not silent).
        criterion
            What success is per item (its texts: one per input), e.g. ``TargetText(targets)``.
        progress
            Called after every step with an :class:`AttackProgress`.
        checkpoint
            Save the loop's state there when due and when the loop ends, and resume from it if it holds this
            batch's state (same inputs, criterion, penalty and settings, seed included); the results are
            bit-identical to an uninterrupted run's. The caller deletes it once the results are stored.
        """
        domain, cfg, scale = self.domain, self.config, self.domain.scale
        originals = [domain.check_input(a, i) for i, a in enumerate(inputs)]
        if not originals:
            raise BadInputError("attack: no utterances given")
        labels = criterion.labels(self.recognizer, originals)
        kind = self.kind or criterion.kind
        check_every = cfg.check_every or criterion.check_every
        x, lengths, inside = pad_batch(originals)
        batch, width = x.shape
        sizes = torch.tensor(lengths)
        peak = np.array([float(np.max(np.abs(a))) for a in originals])

        generator = torch.Generator().manual_seed(cfg.seed)
        noise = (torch.rand(batch, width, generator=generator) * 2 - 1) * cfg.init_noise * inside
        state = _LoopState.start(noise, cfg)
        key = self._checkpoint_key(kind, criterion, originals, labels)
        if checkpoint is not None and (saved := checkpoint.load(key)) is not None:
            state.load_state_dict(saved)
            log.info("resuming the attack of %d item(s) at step %d of %d from %s", batch, state.steps, cfg.max_steps,
                     checkpoint.path)
        deltas, bound, candidates, best_db_x = state.deltas, state.bound, state.candidates, state.best_db_x
        start = time.perf_counter() - state.elapsed
        while state.steps < cfg.max_steps:
            # Stop checks come first, so a run resumed from any checkpoint takes the same decisions.
            if cfg.stop_db_x is not None and np.all(best_db_x <= cfg.stop_db_x):
                log.info("every item reached %.1f dB_x after %d steps; stopping early", cfg.stop_db_x, state.steps)
                break
            if cfg.time_budget_s is not None and time.perf_counter() - start >= cfg.time_budget_s:
                log.info("time budget of %.0f s reached after %d steps", cfg.time_budget_s, state.steps)
                break
            state.steps += 1
            steps = state.steps
            delta = torch.stack(deltas) * inside
            adversarial = domain.project(x + delta / scale)
            step_batch = AttackBatch(adversarial, inside, lengths, labels)
            loss, success = criterion.objective(self.recognizer, step_batch)
            accepted = None
            if self.penalty is not None:
                penalty, accepted = self.penalty(step_batch)
                loss = loss + cfg.detector_weight * penalty
            total = loss.sum()
            if cfg.l2_weight > 0:
                energy = (delta / cfg.initial_bound).square().sum(1) / sizes
                total = total + cfg.l2_weight * energy.sum()
            state.optimizer.zero_grad(set_to_none=True)
            total.backward()
            for i, value in enumerate(loss.detach().tolist()):
                state.loss_curves[i].append(float(value))
            if steps % check_every == 0:
                snapshot = adversarial.detach().numpy()
                rounded = [domain.quantize(snapshot[i, : lengths[i]]) for i in range(batch)]
                if success is None:  # the criterion has no teacher-forced mask: decode what would be stored
                    success = criterion.decide(self.recognizer, rounded, labels)[0]
                if accepted is not None:
                    success = success & accepted
                for i in np.flatnonzero(success):
                    change = (rounded[i].astype(np.float64) - originals[i]) * scale
                    linf = float(np.max(np.abs(change)))
                    if state.first_success[i] is None:
                        state.first_success[i] = steps
                    candidates[i].append(rounded[i])
                    best_db_x[i] = min(best_db_x[i], _db(linf / scale, peak[i]))
                    size = linf if cfg.norm == "linf" else float(np.linalg.norm(change))
                    bound[i] = min(float(bound[i]), size) * cfg.shrink
            if cfg.norm == "l2":
                for d in deltas:
                    d.grad /= d.grad.norm().clamp_min(1e-12)
            state.optimizer.step()
            with torch.no_grad():
                for i, d in enumerate(deltas):
                    _project(d, float(bound[i]), cfg.norm).mul_(inside[i])
            state.elapsed = time.perf_counter() - start
            if checkpoint is not None and checkpoint.due():
                checkpoint.save(key, state.state_dict())
            if progress is not None:
                current = np.array([_db(float(d.detach().abs().max()) / scale, peak[i]) for i, d in enumerate(deltas)])
                shown = np.where(np.isfinite(best_db_x), best_db_x, current)
                progress(
                    AttackProgress(
                        step=steps,
                        max_steps=cfg.max_steps,
                        loss=float(loss.detach().mean()),
                        db_x=float(np.median(shown)),
                        successes=sum(s is not None for s in state.first_success),
                        n_items=batch,
                        elapsed_s=time.perf_counter() - start,
                    )
                )
        if checkpoint is not None:  # a kill during the confirmation below then redoes only the confirmation
            state.elapsed = time.perf_counter() - start
            checkpoint.save(key, state.state_dict())

        final = domain.project(x + torch.stack(deltas).detach() * inside / scale).numpy()
        for i in range(batch):  # the last iterate is the fallback when no kept candidate is confirmed
            candidates[i].appendleft(domain.quantize(final[i, : lengths[i]]))
        chosen, transcripts, confirmed = self._confirm(criterion, candidates, labels)
        seconds = time.perf_counter() - start
        settings = self._settings(criterion)
        return [
            AttackResult(
                adversarial=chosen[i],
                original=originals[i],
                target=labels[i],
                kind=kind,
                recognizer=self.recognizer.name,
                success=bool(confirmed[i]),
                transcript=transcripts[i],
                **domain.distortion(originals[i], chosen[i]),
                linf_bound=float(bound[i]),
                steps=state.steps,
                first_success_step=state.first_success[i],
                seconds=seconds,
                loss_curve=state.loss_curves[i],
                config=settings,
            )
            for i in range(batch)
        ]

    def _settings(self, criterion: Criterion) -> dict[str, Any]:
        """The config, the white-box precision, the criterion's and the penalty's settings: what results store as
        ``config``."""
        penalty = {} if self.penalty is None else self.penalty.to_dict()
        return {**self.config.to_dict(), "precision": self.recognizer.precision, **criterion.to_dict(), **penalty}

    def _checkpoint_key(self, kind: str, criterion: Criterion, originals: list[np.ndarray], labels: list[str]) -> str:
        """What a checkpoint must match to be resumed: the batch's inputs and labels, the settings, the attack."""
        settings = json.dumps(self._settings(criterion), sort_keys=True)
        return content_key(kind, self.recognizer.name, settings, *labels, *(a.tobytes() for a in originals))

    def _confirm(
        self, criterion: Criterion, candidates: list[deque[np.ndarray]], labels: list[str]
    ) -> tuple[list[np.ndarray], list[str], np.ndarray]:
        """Greedy-decode candidates newest first (batched across items) until each item is confirmed.

        Each ``candidates[i]`` holds the last iterate on the left and the kept successes after it, oldest to
        newest; the newest success (smallest bound) is tried first, the last iterate last. With a penalty, only
        kept successes it accepts are tried, and a confirmation also needs its acceptance.
        """
        batch = len(candidates)
        order = []
        for queue, label in zip(candidates, labels):
            fallback, kept = queue[0], list(queue)[1:]
            if self.penalty is not None:
                kept = [c for c, ok in zip(kept, self.penalty.accepts(kept, [label] * len(kept))) if ok]
            order.append([*reversed(kept), fallback])  # newest success first ... last iterate last
        chosen: list[np.ndarray] = [o[-1] for o in order]
        transcripts = [""] * batch
        confirmed = np.zeros(batch, dtype=bool)
        for rank in range(max(len(o) for o in order)):
            pending = [i for i in range(batch) if not confirmed[i] and rank < len(order[i])]
            if not pending:
                break
            ok, texts = criterion.decide(self.recognizer, [order[i][rank] for i in pending], [labels[i] for i in pending])
            for i, text, good in zip(pending, texts, ok):
                if good or rank == len(order[i]) - 1:
                    chosen[i], transcripts[i], confirmed[i] = order[i][rank], text, bool(good)
                if rank > 0 and good:
                    log.info("item %d: confirmed with candidate %d (newer ones failed the greedy decode)", i, rank)
        if self.penalty is not None:
            confirmed &= self.penalty.accepts(chosen, labels)
        return chosen, transcripts, confirmed


@dataclass
class _LoopState:
    """Everything :meth:`Attack.run`'s loop changes from step to step (what a checkpoint holds)."""

    deltas: list[torch.nn.Parameter]
    optimizer: torch.optim.Adam
    bound: torch.Tensor
    candidates: list[deque[np.ndarray]]
    best_db_x: np.ndarray
    first_success: list[int | None]
    loss_curves: list[list[float]]
    steps: int = 0
    elapsed: float = 0.0

    @classmethod
    def start(cls, noise: torch.Tensor, cfg: AttackConfig) -> _LoopState:
        """Step 0: δ = ``noise`` with one parameter (and Adam group) per item, for per-item bounds and schedules."""
        batch = noise.shape[0]
        deltas = [torch.nn.Parameter(noise[i].clone()) for i in range(batch)]
        return cls(
            deltas=deltas,
            optimizer=(torch.optim.Adam if cfg.norm == "linf" else torch.optim.SGD)(
                [{"params": [d]} for d in deltas], lr=cfg.learning_rate),
            bound=torch.full((batch,), float(cfg.initial_bound)),
            candidates=[deque(maxlen=KEEP_CANDIDATES) for _ in range(batch)],
            best_db_x=np.full(batch, np.inf),
            first_success=[None] * batch,
            loss_curves=[[] for _ in range(batch)],
        )

    def state_dict(self) -> dict[str, Any]:
        """The state as tensors, numbers and lists (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "deltas": torch.stack([d.detach() for d in self.deltas]),
            "optimizer": self.optimizer.state_dict(),
            "bound": self.bound.clone(),
            "candidates": [[torch.from_numpy(c) for c in queue] for queue in self.candidates],
            "best_db_x": torch.from_numpy(self.best_db_x.copy()),
            "first_success": list(self.first_success),
            "loss_curves": [list(curve) for curve in self.loss_curves],
            "steps": self.steps,
            "elapsed": self.elapsed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (in place: the optimiser keeps its parameters)."""
        with torch.no_grad():
            for d, saved in zip(self.deltas, state["deltas"]):
                d.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.bound.copy_(state["bound"])
        for queue, saved in zip(self.candidates, state["candidates"]):
            queue.clear()
            queue.extend(c.numpy() for c in saved)
        self.best_db_x[:] = state["best_db_x"].numpy()
        self.first_success[:] = state["first_success"]
        for curve, saved in zip(self.loss_curves, state["loss_curves"]):
            curve[:] = saved
        self.steps, self.elapsed = int(state["steps"]), float(state["elapsed"])


def _project(delta: torch.Tensor, bound: float, norm: str) -> torch.Tensor:
    """``delta`` moved in place into the L∞ box or the L2 ball of radius ``bound``."""
    if norm == "linf":
        return delta.clamp_(-bound, bound)
    length = float(delta.norm())
    return delta.mul_(bound / length) if length > bound else delta


def _db(linf: float, peak: float) -> float:
    """C&W dB_x from the two maxima (-inf for a zero perturbation)."""
    return 20.0 * math.log10(linf / peak) if linf > 0 else -math.inf
