"""Cost of the fragility ratio for Whisper tiny.en on 5 s of pico2wave speech, against one forward+backward.

Usage: ``.venv/bin/python bench/fragility.py [--iters 15] [--samples 16] [--seed 0] [--threads 2]``

- baseline: one forward + backward of the mean-pooled encoder to the waveform (fastest of 2), same run.
- power iteration for ``--iters`` pairs (one JVP + one VJP each, no early stop); the last estimate is the
  reference σ_max (the estimates only grow towards the true value; the relative change per pair is printed).
- pairs to 5 % / 1 %: first pair whose estimate is within 5 % / 1 % of the reference. Target: ≤ 60 pairs
  for 5 %.
- cost of one pair and of the whole ratio estimate (power iteration + ``--samples`` batched JVPs), in
  seconds and in units of the baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.theory.applied import fragility_target
from synthcheck.theory.fragility import fragility
from synthcheck.tts import get_synthesizer

TEXT = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness."
TARGET_PAIRS = 60


def five_seconds_of_speech() -> np.ndarray:
    """pico2wave reading of :data:`TEXT`, cut or zero-padded to exactly 5 s."""
    audio = get_synthesizer("pico2wave").synthesize(TEXT)[: 5 * SAMPLE_RATE]
    return np.pad(audio, (0, 5 * SAMPLE_RATE - audio.size))


def forward_backward_seconds(h, x: torch.Tensor, repeats: int = 2) -> float:
    """Fastest wall time of one forward + backward of ``h`` at ``x``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        point = x.unsqueeze(0).clone().requires_grad_(True)
        h(point).sum().backward()
        best = min(best, time.perf_counter() - started)
    return best


def pairs_within(history: list[float], reference: float, tolerance: float) -> int:
    """First (1-based) pair whose estimate is within ``tolerance`` of ``reference``."""
    return next(k + 1 for k, value in enumerate(history) if abs(value - reference) <= tolerance * reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=15)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    target = fragility_target("whisper-tiny.en", audio=five_seconds_of_speech())
    baseline = forward_backward_seconds(target.h, target.x)
    report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(args.seed), iters=args.iters,
                       rel_tol=0.0, samples=args.samples, batch=8, fd_steps=(1e-4, 1e-5), fd_samples=4)
    history = list(report.sigma_history)
    reference = history[-1]
    per_pair = report.power_seconds / report.iterations
    print(f"whisper-tiny.en, 5 s pico2wave speech: N = {report.n}, M = {report.m}, {args.threads} threads")
    print(f"baseline forward+backward: {baseline:.2f} s")
    print("power iteration (σ estimate, relative change, gap to reference):")
    for k, value in enumerate(history, 1):
        change = abs(value - history[k - 2]) / value if k > 1 else float("nan")
        print(f"  pair {k:3d}: σ = {value:10.4f}   change {change:8.2e}   gap {(reference - value) / reference:8.2e}")
    five, one = pairs_within(history, reference, 0.05), pairs_within(history, reference, 0.01)
    verdict = "PASS" if five <= TARGET_PAIRS else "FAIL"
    print(f"pairs to 5 % of the {args.iters}-pair reference: {five} (target ≤ {TARGET_PAIRS}: {verdict}); to 1 %: {one}")
    print(f"one JVP+VJP pair: {per_pair:.2f} s = {per_pair / baseline:.2f} x forward+backward")
    print(f"ratio estimate at 5 %: {five} pairs + the rest (first forward, {args.samples} JVPs, FD check) ≈ "
          f"{five * per_pair + (report.seconds - report.power_seconds):.1f} s; whole run {report.seconds:.1f} s "
          f"= {report.seconds / baseline:.1f} x forward+backward")
    print(f"ratio σ_max/E‖Jo‖ = {report.ratio:.2f} ± {report.ratio_stderr:.2f}   sqrt(N/M) = {report.sqrt_n_over_m:.2f}   "
          f"sqrt((N+M)/M) = {report.sqrt_n_plus_m_over_m:.2f}")
    for fd in report.fd_check:
        print(f"finite differences ε = {fd.eps:.2e}: α/Eβ = {fd.fd_ratio:.2f} vs JVP ratio {fd.jvp_ratio:.2f} "
              f"(rel diff {fd.rel_diff:.2e})")


if __name__ == "__main__":
    main()
