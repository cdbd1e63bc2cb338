"""The shared white-box attack loop (Carlini & Wagner style, L∞ on the 16-bit scale).

An attack perturbs each utterance ``x`` by ``δ`` with ``‖δ‖∞ ≤ τ`` (per item, in 16-bit steps, i.e. units of
1/32768) and minimises an objective of the recogniser with Adam. Whenever an item meets the attack's criterion,
its bound shrinks to ``shrink · max|δ|`` and the 16-bit-rounded adversarial is kept as a candidate, so the
reported perturbation is the smallest one found. At the end every item is confirmed by a real greedy decode of
its 16-bit adversarial; the reported ``success`` is that confirmed one (never the optimiser's belief).

Given an :class:`~synthcheck.attacks.checkpoint.AttackCheckpoint`, the loop saves its whole state every few
seconds and when it ends, and resumes from a checkpoint of the same batch: a killed run loses at most that
interval, and the resumed run's results are bit-identical to an uninterrupted one's.

Subclasses (:class:`~synthcheck.attacks.targeted.TargetedAttack`,
:class:`~synthcheck.attacks.untargeted.UntargetedAttack`) supply only the objective, the per-step success mask
and the confirmation criterion; the loop below is shared.

Every item gets an :class:`~synthcheck.attacks.result.AttackResult`. Distortion is reported as Carlini & Wagner
do, ``dB_x(δ) = 20·log10 max|δ| − 20·log10 max|x|``, beside the energy SNR ``10·log10(‖x‖²/‖δ‖²)`` and the
attenuation-fitted SNR of the adversarial (see :mod:`synthcheck.audio.metrics`), always computed on the exact
16-bit adversarial.
"""

from __future__ import annotations

import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from synthcheck.asr.base import DifferentiableRecognizer, Recognizer, require_differentiable
from synthcheck.attacks.checkpoint import AttackCheckpoint
from synthcheck.attacks.result import AttackProgress, AttackResult
from synthcheck.audio.io import SAMPLE_RATE, quantize_16bit, validate_audio
from synthcheck.audio.metrics import db_x, fitted_snr_db, snr_db
from synthcheck.cache import content_key
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: 16-bit full scale: bounds, learning rates and noise are given in units of 1/FULL_SCALE.
FULL_SCALE = 32768.0
#: Shortest utterance an attack accepts (seconds).
MIN_SECONDS = 0.1
#: Longest utterance an attack accepts (seconds): Whisper's full window.
MAX_SECONDS = 30.0
#: How many of the latest successful candidates per item are kept for the final confirmation.
KEEP_CANDIDATES = 3


@dataclass
class AttackConfig:
    """Settings shared by all attacks (bounds, rates and noise on the 16-bit scale).

    Attributes
    ----------
    max_steps
        Optimiser steps at most.
    initial_bound
        Starting L∞ bound τ (16-bit steps; Carlini & Wagner use 2000).
    learning_rate
        Adam step size (16-bit steps).
    shrink
        On success the bound becomes ``shrink · max|δ|``.
    l2_weight
        Optional C&W penalty ``l2_weight · ‖δ/τ₀‖²/n`` (n samples of the item) added to the objective (0 disables it).
    time_budget_s
        Stop after this many seconds of optimisation (None: no limit).
    init_noise
        δ starts uniform in ±init_noise: about 7 % of samples get exactly zero gradient at δ=0.
    check_every
        Evaluate the success criterion every this many steps.
    stop_db_x
        Stop early once every item has a success at or below this dB_x (None: run all steps).
    seed
        Seed of the torch generator for the initial noise (``run(seed=...)`` overrides it).
    """

    max_steps: int = 1000
    initial_bound: float = 2000.0
    learning_rate: float = 20.0
    shrink: float = 0.8
    l2_weight: float = 0.0
    time_budget_s: float | None = None
    init_noise: float = 8.0
    check_every: int = 1
    stop_db_x: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise BadInputError(f"max_steps must be at least 1 (with {self.max_steps} steps the attack never runs)")
        if not 0 < self.initial_bound <= FULL_SCALE:
            raise BadInputError(f"initial_bound must be in (0, 32768] (16-bit steps), got {self.initial_bound}")
        if not self.learning_rate > 0:  # NaN too
            raise BadInputError(f"learning_rate must be > 0 (16-bit steps), got {self.learning_rate}")
        if not 0 < self.shrink < 1:
            raise BadInputError(f"shrink must be in (0, 1), got {self.shrink}")
        if self.check_every < 1:
            raise BadInputError(f"check_every must be >= 1, got {self.check_every}")
        if self.init_noise < 0 or self.l2_weight < 0:
            raise BadInputError("init_noise and l2_weight must be >= 0")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise BadInputError(f"time_budget_s must be > 0 or None, got {self.time_budget_s}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the settings (with the config class name under ``"type"``)."""
        return {"type": type(self).__name__, **asdict(self)}


class Attack(ABC):
    """A batched white-box attack on a differentiable recogniser.

    Subclasses implement :meth:`_objective` (loss to minimise, plus an optional success mask from the same
    forward pass) and :meth:`_criterion` (does a decoded transcript meet the goal?).
    """

    #: Attack kind, stored with results ("targeted", "untargeted"; :func:`~.kinds.build_attack` sets the kind asked for).
    kind: str = "attack"
    #: The recogniser interface the attack uses (as ART's ``_estimator_requirements``), checked once in ``__init__``.
    requires: type[DifferentiableRecognizer] = DifferentiableRecognizer

    def __init__(self, recognizer: Recognizer, config: AttackConfig) -> None:
        self.recognizer = require_differentiable(
            recognizer, type(self).__name__, f", and check transfer to {recognizer.name!r} instead", self.requires
        )
        self.config = config

    @abstractmethod
    def _objective(self, audio: torch.Tensor, labels: list[str], check: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        """Per-item loss to minimise ``[B]`` and, if ``check``, the per-item success mask (else None)."""

    @abstractmethod
    def _criterion(self, transcripts: list[str], labels: list[str]) -> np.ndarray:
        """Per-item bool: does the decoded transcript meet the attack's goal for its label?"""

    def _default_labels(self, audios: list[np.ndarray]) -> list[str]:
        """Labels when the caller gives none (default: refuse)."""
        raise BadInputError(f"{self.kind} attack: no target text given; give the words to aim for")

    def _check_label(self, label: str) -> str:
        """Validate one target/reference text; return it stripped."""
        text = label.strip() if isinstance(label, str) else ""
        if not text:
            raise BadInputError(f"{self.kind} attack: the target/reference text is empty; give some words")
        n_tokens = len(self.recognizer.tokenize(text))
        capacity = int(self.recognizer.max_target_tokens)
        if n_tokens > capacity:
            raise BadInputError(
                f"target is {n_tokens} tokens, longer than the {capacity} the decoder can hold; shorten it"
            )
        return text

    def _prepare_labels(self, audios: list[np.ndarray], labels: Sequence[str] | str | None) -> list[str]:
        if labels is None:
            labels = self._default_labels(audios)
        elif isinstance(labels, str):
            labels = [labels] * len(audios)
        if len(labels) != len(audios):
            raise BadInputError(f"{self.kind} attack: got {len(audios)} utterances but {len(labels)} target texts")
        return [self._check_label(label) for label in labels]

    def run(
        self,
        audios: Sequence[np.ndarray],
        targets: Sequence[str] | str | None,
        *,
        seed: int | None = None,
        progress: Callable[[AttackProgress], None] | None = None,
        checkpoint: AttackCheckpoint | None = None,
    ) -> list[AttackResult]:
        """Attack a batch of utterances (different lengths allowed) and return one result per item.

        Parameters
        ----------
        audios
            1-D float32 16 kHz utterances in [-1, 1], each 0.1–30 s and not silent.
        targets
            One text per utterance (or one for all): the target (targeted) or reference (untargeted);
            None lets the attack choose (untargeted: the clean transcripts).
        seed
            Seed for the initial random δ (default: ``config.seed``); same seed, same result.
        progress
            Called after every step with an :class:`AttackProgress`.
        checkpoint
            Save the loop's state there when due and when the loop ends, and resume from it if it holds this
            batch's state (same utterances, targets, seed and settings); the results are bit-identical to an
            uninterrupted run's. The caller deletes it once the results are stored.
        """
        originals = [_check_audio(a, i) for i, a in enumerate(audios)]
        if not originals:
            raise BadInputError("attack: no utterances given")
        labels = self._prepare_labels(originals, targets)
        cfg = self.config
        seed = cfg.seed if seed is None else seed
        lengths = np.array([a.size for a in originals])
        batch, width = len(originals), int(lengths.max())
        x = torch.zeros(batch, width)
        for i, a in enumerate(originals):
            x[i, : a.size] = torch.from_numpy(a)
        inside = (torch.arange(width)[None, :] < torch.from_numpy(lengths)[:, None]).float()
        peak = np.array([float(np.max(np.abs(a))) for a in originals])

        generator = torch.Generator().manual_seed(seed)
        noise = (torch.rand(batch, width, generator=generator) * 2 - 1) * cfg.init_noise * inside
        state = _LoopState.start(noise, cfg)
        key = self._checkpoint_key(originals, labels, seed)
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
            adversarial = torch.clamp(x + delta / FULL_SCALE, -1.0, 1.0)
            check = steps % cfg.check_every == 0
            loss, success = self._objective(adversarial, labels, check)
            total = loss.sum()
            if cfg.l2_weight > 0:
                energy = (delta / cfg.initial_bound).square().sum(1) / torch.from_numpy(lengths)
                total = total + cfg.l2_weight * energy.sum()
            state.optimizer.zero_grad(set_to_none=True)
            total.backward()
            for i, value in enumerate(loss.detach().tolist()):
                state.loss_curves[i].append(float(value))
            if success is not None:
                snapshot = adversarial.detach().numpy()
                for i in np.flatnonzero(success):
                    candidate = quantize_16bit(snapshot[i, : lengths[i]])
                    linf = float(np.max(np.abs(candidate.astype(np.float64) - originals[i]))) * FULL_SCALE
                    if state.first_success[i] is None:
                        state.first_success[i] = steps
                    candidates[i].append(candidate)
                    best_db_x[i] = min(best_db_x[i], _db(linf / FULL_SCALE, peak[i]))
                    bound[i] = min(float(bound[i]), linf) * cfg.shrink
            state.optimizer.step()
            with torch.no_grad():
                for i, d in enumerate(deltas):
                    d.clamp_(-float(bound[i]), float(bound[i])).mul_(inside[i])
            state.elapsed = time.perf_counter() - start
            if checkpoint is not None and checkpoint.due():
                checkpoint.save(key, state.state_dict())
            if progress is not None:
                current = np.array([_db(float(d.detach().abs().max()) / FULL_SCALE, peak[i]) for i, d in enumerate(deltas)])
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

        final = torch.clamp(x + torch.stack(deltas).detach() * inside / FULL_SCALE, -1.0, 1.0).numpy()
        for i in range(batch):  # the last iterate is the fallback when no kept candidate is confirmed
            candidates[i].appendleft(quantize_16bit(final[i, : lengths[i]]))
        chosen, transcripts, confirmed = self._confirm(candidates, labels)
        seconds = time.perf_counter() - start
        return [
            self._result(
                originals[i], chosen[i], labels[i], bool(confirmed[i]), transcripts[i], float(bound[i]), state.steps,
                state.first_success[i], seconds, state.loss_curves[i],
            )
            for i in range(batch)
        ]

    def _checkpoint_key(self, originals: list[np.ndarray], labels: list[str], seed: int) -> str:
        """What a checkpoint must match to be resumed: the batch's audio and labels, the seed, the attack."""
        settings = json.dumps(self.config.to_dict(), sort_keys=True)
        audio = (a.tobytes() for a in originals)
        return content_key(self.kind, self.recognizer.name, settings, str(seed), *labels, *audio)

    def _confirm(
        self, candidates: list[deque[np.ndarray]], labels: list[str]
    ) -> tuple[list[np.ndarray], list[str], np.ndarray]:
        """Greedy-decode candidates newest first (batched across items) until each item is confirmed.

        Each ``candidates[i]`` holds the last iterate on the left and the kept successes after it, oldest to
        newest; the newest success (smallest bound) is tried first, the last iterate last.
        """
        batch = len(candidates)
        order = [list(reversed(c)) for c in candidates]  # newest success first ... last iterate last
        chosen: list[np.ndarray] = [o[-1] for o in order]
        transcripts = [""] * batch
        confirmed = np.zeros(batch, dtype=bool)
        for rank in range(max(len(o) for o in order)):
            pending = [i for i in range(batch) if not confirmed[i] and rank < len(order[i])]
            if not pending:
                break
            texts = self.recognizer.transcribe_batch([order[i][rank] for i in pending])
            ok = self._criterion(texts, [labels[i] for i in pending])
            for i, text, good in zip(pending, texts, ok):
                if good or rank == len(order[i]) - 1:
                    chosen[i], transcripts[i], confirmed[i] = order[i][rank], text, bool(good)
                if rank > 0 and good:
                    log.info("item %d: confirmed with candidate %d (newer ones failed the greedy decode)", i, rank)
        return chosen, transcripts, confirmed

    def _result(
        self,
        original: np.ndarray,
        adversarial: np.ndarray,
        label: str,
        success: bool,
        transcript: str,
        bound: float,
        steps: int,
        first_success_step: int | None,
        seconds: float,
        loss_curve: list[float],
    ) -> AttackResult:
        delta = adversarial.astype(np.float64) - original
        return AttackResult(
            adversarial=adversarial,
            original=original,
            target=label,
            kind=self.kind,
            recognizer=self.recognizer.name,
            success=success,
            transcript=transcript,
            db_x=float(db_x(delta, original)),
            snr_db=float(snr_db(original, delta)),
            fitted_snr_db=float(fitted_snr_db(original, adversarial).snr_db),
            bound=bound,
            steps=steps,
            first_success_step=first_success_step,
            seconds=seconds,
            loss_curve=loss_curve,
            config=self.config.to_dict(),
        )


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
            optimizer=torch.optim.Adam([{"params": [d]} for d in deltas], lr=cfg.learning_rate),
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


def _check_audio(audio: np.ndarray, index: int) -> np.ndarray:
    audio = validate_audio(audio, name=f"utterance {index}")
    seconds = audio.size / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise BadInputError(f"utterance {index}: {seconds:.3f} s is too short to attack; give at least {MIN_SECONDS} s")
    if seconds > MAX_SECONDS:
        raise BadInputError(f"utterance {index}: {seconds:.1f} s is longer than {MAX_SECONDS:.0f} s; cut it first")
    if float(np.max(np.abs(audio))) > 1.0:
        raise BadInputError(f"utterance {index}: samples exceed [-1, 1]; normalise the audio first")
    return audio


def _db(linf: float, peak: float) -> float:
    """C&W dB_x from the two maxima (-inf for a zero perturbation)."""
    return 20.0 * math.log10(linf / peak) if linf > 0 else -math.inf


