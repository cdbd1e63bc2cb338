"""Random-noise robustness: the smallest Gaussian noise that changes the recogniser's decision.

The paper's claim is that a compressed classifier tolerates large random perturbations but falls to much smaller
adversarial ones. :class:`RandomNoiseSearch` measures the random side on the recogniser's actual decisions, as the
original experiment code does (public repository Hui-Xie/AdversarialDefense, ``generate1KUntargetedAdv.m``):
Gaussian noise of standard deviation ``std(x) / t`` is added for ``t`` = 610, 590, …, 10, then 0.5
(:data:`GRID_T`; SNR ≈ 20·log10 t, from 55.7 dB down to −6 dB) until the transcript changes — the *first flip*.
One draw per level, as the original; then a refined estimate with ``draws`` seeded draws per level: σ grows from
the grid's first flip (one draw can flip early) until at least half of the draws change the transcript, then
bisection on ``log σ`` narrows the level at which half of them do (:class:`~synthcheck.attacks.result.NoiseLevels`).

It has the interface of :class:`~synthcheck.attacks.base.Attack` (``run(inputs, criterion, progress=,
checkpoint=)`` → one :class:`~synthcheck.attacks.result.AttackResult` per input), so the experiment driver runs it
as one more perturbation kind (``random-noise``, :mod:`synthcheck.attacks.kinds`). The criterion says what a
change is (:class:`~synthcheck.attacks.criteria.WordErrorAbove` with threshold 0: any word differs from the clean
transcript). Every level is decoded in one recogniser call for all inputs (and all draws). The noisy audio is
rounded to 16 bits, as a stored recording would be. Results: ``success`` = the grid flipped the transcript,
``adversarial`` = that first flipping draw (the last, loudest draw when none did), ``linf_bound`` = the noise's σ
at the flip in 16-bit steps, ``steps`` = recogniser calls.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.attacks.audio_domain import AudioDomain
from synthcheck.attacks.base import AttackConfig
from synthcheck.attacks.checkpoint import AttackCheckpoint
from synthcheck.attacks.criteria import Criterion
from synthcheck.attacks.result import AttackProgress, AttackResult, NoiseLevels
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: The original code's descending grid of ``t`` (noise std = std(x) / t): 610, 590, …, 10, then 0.5.
GRID_T: tuple[float, ...] = (*(float(t) for t in range(610, 9, -20)), 0.5)
#: Seeded draws per refined level.
DEFAULT_DRAWS = 4
#: Bisection steps of the refined estimate (each halves the bracket in log σ).
DEFAULT_REFINE_STEPS = 5
#: Factor σ grows by while fewer than half the draws at the grid's flip level change the transcript (3 dB).
EXPAND = math.sqrt(2.0)
#: At most this many growth steps before bisection (a σ beyond the grid's loudest level is not searched).
MAX_EXPANSIONS = 8


class RandomNoiseSearch:
    """The random-noise robustness radius of each input (see the module docstring).

    Parameters
    ----------
    recognizer
        Any recogniser (no gradients needed).
    config
        ``seed`` seeds the draws; the other loop settings are not used.
    kind
        Kind stored with the results.
    draws, refine_steps
        Draws per refined level and bisection steps.
    """

    def __init__(self, recognizer: Recognizer, config: AttackConfig | None = None, *, kind: str = "random-noise",
                 draws: int = DEFAULT_DRAWS, refine_steps: int = DEFAULT_REFINE_STEPS) -> None:
        if draws < 1 or refine_steps < 0:
            raise BadInputError(f"random-noise search: draws must be >= 1 and refine_steps >= 0, got {draws}, "
                                f"{refine_steps}")
        self.recognizer = recognizer
        self.config = config or AttackConfig()
        self.kind = kind
        self.draws = draws
        self.refine_steps = refine_steps
        self.domain = AudioDomain()

    def run(
        self,
        inputs: Sequence[np.ndarray],
        criterion: Criterion,
        *,
        progress: Callable[[AttackProgress], None] | None = None,
        checkpoint: AttackCheckpoint | None = None,
    ) -> list[AttackResult]:
        """Search every input's radius; one result per input.

        ``checkpoint`` is accepted for the driver's sake and not written: a search takes a few dozen decodes, and
        a killed one is redone (bit-identically: the draws are seeded per input).
        """
        del checkpoint
        start = time.perf_counter()
        originals = [self.domain.check_input(a, i) for i, a in enumerate(inputs)]
        if not originals:
            raise BadInputError("random-noise search: no utterances given")
        labels = criterion.labels(self.recognizer, originals)
        rngs = [np.random.default_rng([self.config.seed, i]) for i in range(len(originals))]
        sigma0 = [float(np.std(x.astype(np.float64))) for x in originals]
        calls = 0
        total_calls = len(GRID_T) + self.refine_steps

        def report(successes: int) -> None:
            if progress is not None:
                progress(AttackProgress(step=round(self.config.max_steps * min(calls, total_calls) / total_calls),
                                        max_steps=self.config.max_steps, loss=math.nan, db_x=math.nan,
                                        successes=successes, n_items=len(originals),
                                        elapsed_s=time.perf_counter() - start))

        # The original's grid: one draw per level, noise growing, until the first flip.
        first: dict[int, tuple[float, np.ndarray, str, float]] = {}
        last_quiet: dict[int, float] = {}
        loudest: dict[int, tuple[np.ndarray, str]] = {}
        for t in GRID_T:
            pending = [i for i in range(len(originals)) if i not in first]
            if not pending:
                break
            noisy, norms = zip(*(self._noisy(originals[i], sigma0[i] / t, rngs[i]) for i in pending))
            flipped, texts = criterion.decide(self.recognizer, list(noisy), [labels[i] for i in pending])
            calls += 1
            for i, audio, text, norm, changed in zip(pending, noisy, texts, norms, flipped):
                if changed:
                    first[i] = (t, audio, text, norm)
                else:
                    last_quiet[i], loudest[i] = sigma0[i] / t, (audio, text)
            report(len(first))

        # Refined: from the grid's flip, grow σ by EXPAND until half of `draws` draws flip (one lucky draw can flip
        # early), then bisect log σ between the last level that did not reach half and the first that did.
        bracket = {i: [last_quiet.get(i, 0.0), sigma0[i] / first[i][0]] for i in first}
        fraction: dict[int, float | None] = {i: None for i in first}
        bisections = {i: 0 for i in first}
        for _ in range(self.refine_steps + MAX_EXPANSIONS):
            active = [i for i in first if bisections[i] < self.refine_steps
                      and (fraction[i] is not None or bracket[i][1] <= sigma0[i] / GRID_T[-1])]
            if not active:
                break
            levels = {i: bracket[i][1] if fraction[i] is None else _middle(*bracket[i]) for i in active}
            noisy = [self._noisy(originals[i], levels[i], rngs[i])[0] for i in active for _ in range(self.draws)]
            flipped, _ = criterion.decide(self.recognizer, noisy,
                                          [labels[i] for i in active for _ in range(self.draws)])
            calls += 1
            for k, i in enumerate(active):
                share = float(np.mean(flipped[k * self.draws : (k + 1) * self.draws]))
                verified = fraction[i] is not None
                if share >= 0.5:
                    bracket[i][1], fraction[i] = levels[i], share
                elif verified:
                    bracket[i][0] = levels[i]
                else:
                    bracket[i] = [levels[i], levels[i] * EXPAND]
                bisections[i] += verified
            report(len(first))
        seconds = time.perf_counter() - start
        results = []
        for i, x in enumerate(originals):
            root_n = math.sqrt(x.size)
            if i in first:
                t, audio, text, norm = first[i]
                lo, hi = bracket[i] if fraction[i] is not None else (sigma0[i] / t, None)
                levels = NoiseLevels(grid_t=t, grid_snr_db=20 * math.log10(t), grid_l2=norm,
                                     level_l2=None if hi is None else hi * root_n,
                                     level_snr_db=None if hi is None else 20 * math.log10(sigma0[i] / hi),
                                     low_l2=lo * root_n,
                                     flip_fraction=fraction[i], draws=self.draws)
                sigma = sigma0[i] / t
            else:
                audio, text = loudest[i]
                levels = NoiseLevels(None, None, None, None, None, None, None, self.draws)
                sigma = sigma0[i] / GRID_T[-1]
            results.append(AttackResult(
                adversarial=audio, original=x, target=labels[i], kind=self.kind, recognizer=self.recognizer.name,
                success=i in first, transcript=text, **self.domain.distortion(x, audio),
                linf_bound=sigma * self.domain.scale, steps=calls, first_success_step=None, seconds=seconds,
                loss_curve=[], config={**self.config.to_dict(), **criterion.to_dict(), "draws": self.draws,
                                       "refine_steps": self.refine_steps, "grid_t": list(GRID_T)},
                noise=levels,
            ))
        return results

    def _noisy(self, x: np.ndarray, sigma: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """``x`` plus one Gaussian draw of std ``sigma``, clipped and rounded to 16 bits; and the added noise's
        L2 norm (of what was added after rounding)."""
        noisy = self.domain.quantize(np.clip(x + sigma * rng.standard_normal(x.size), -1.0, 1.0).astype(np.float32))
        return noisy, float(np.linalg.norm(noisy.astype(np.float64) - x))


def _middle(lo: float, hi: float) -> float:
    """The bisection point of ``[lo, hi]`` in log σ (half of ``hi`` when ``lo`` is 0)."""
    return math.sqrt(lo * hi) if lo > 0 else hi / 2


__all__ = ["DEFAULT_DRAWS", "DEFAULT_REFINE_STEPS", "GRID_T", "RandomNoiseSearch"]
