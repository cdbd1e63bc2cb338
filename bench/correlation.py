"""Benchmark the correlation measures against a bare scipy fftconvolve of the same sizes, measured in the same run.

Usage: ``./run bench correlation [--seed N] [--repeats R]``

Part 1, the template correlation (``xcorr-template``, :mod:`synthcheck.audio.correlation`): FFT implementation
vs the direct lag-by-lag loop vs ``fftconvolve``.
Part 2, the paper's measure and the original code's three (:mod:`synthcheck.audio.pearson`): each measure vs
``fftconvolve(observed, reference[::-1], "full")``, the raw cross-correlation over every lag of the same two
signals (the lag search ``xcorr-paper`` and ``seed-xcorrelation`` need). Target: each within 2x of it.

Signals are white noise at 16 kHz (the cost does not depend on content); the reference and the observed
signal have the same duration and the paper-mode template is 10 % of the reference. The baseline
``fftconvolve(observed, template[::-1], "valid")`` computes only the raw correlation numerator for the same
sizes. Targets: ≥100× faster than the direct loop at 5 s; within 2× of bare fftconvolve.
At 60 s the direct loop would take many minutes, so it is timed on a run of consecutive lags and
extrapolated linearly (each lag costs the same). Timings are the fastest of interleaved repeats.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy.signal import fftconvolve

from synthcheck.audio.correlation import direct_xcorr_scores, max_normalized_xcorr
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.pearson import PEARSON_MEASURES, pearson_measure

DURATIONS_S = (5, 60)
DIRECT_TARGET = 100.0
FFTCONVOLVE_TARGET = 2.0
DIRECT_SUBSET_LAGS = 2_000
#: Up to this many lags the direct loop is timed in full.
DIRECT_FULL_MAX_LAGS = 100_000


def best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` timed calls of each function after one warm-up.

    Calls are interleaved round-robin so that load from other processes hits all of them alike.
    """
    best = {}
    for name, fn in fns.items():
        fn()
        best[name] = float("inf")
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print("xcorr-template (contiguous 10 % template slid over the input)")
    header = f"{'length':>7} {'template':>9} {'rho_max FFT':>12} {'fftconvolve':>12} {'direct loop':>14} " \
             f"{'FFT/fftconv':>12} {'direct/FFT':>11}"
    print(header)
    print("-" * len(header))
    verdicts = []
    for seconds in DURATIONS_S:
        n = seconds * SAMPLE_RATE
        reference = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        observed = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        result = max_normalized_xcorr(reference, observed)
        template = reference[result.template_start : result.template_start + result.template_length]
        template64, observed64 = template.astype(np.float64), observed.astype(np.float64)

        fast = best_times(
            {
                "fft": lambda: max_normalized_xcorr(reference, observed),
                "fftconvolve": lambda: fftconvolve(observed64, template64[::-1], mode="valid"),
            },
            args.repeats,
        )
        t_fft, t_conv = fast["fft"], fast["fftconvolve"]
        n_lags = n - template.size + 1
        if n_lags <= DIRECT_FULL_MAX_LAGS:
            t_direct = best_times({"direct": lambda: direct_xcorr_scores(template64, observed64)}, 2)["direct"]
            direct_note = ""
        else:
            offsets = np.arange(DIRECT_SUBSET_LAGS) + (n_lags - DIRECT_SUBSET_LAGS) // 2
            subset = {"direct": lambda: direct_xcorr_scores(template64, observed64, offsets)}
            t_direct = best_times(subset, 2)["direct"] * n_lags / DIRECT_SUBSET_LAGS
            direct_note = "*"
        conv_ratio, direct_ratio = t_fft / t_conv, t_direct / t_fft
        print(
            f"{seconds:>6}s {template.size:>9d} {t_fft * 1e3:>10.2f}ms {t_conv * 1e3:>10.2f}ms "
            f"{t_direct:>12.2f}s{direct_note:1} {conv_ratio:>11.2f}x {direct_ratio:>10.0f}x"
        )
        verdicts.append(f"{seconds} s: FFT/fftconvolve {conv_ratio:.2f}x (target <= {FFTCONVOLVE_TARGET:g}x) "
                        f"{'PASS' if conv_ratio <= FFTCONVOLVE_TARGET else 'FAIL'}")
        if seconds == DURATIONS_S[0]:
            verdicts.append(f"{seconds} s: direct/FFT {direct_ratio:.0f}x (target >= {DIRECT_TARGET:g}x) "
                            f"{'PASS' if direct_ratio >= DIRECT_TARGET else 'FAIL'}")
    print(f"* direct loop timed on {DIRECT_SUBSET_LAGS} consecutive lags and extrapolated linearly to all lags")
    verdicts += pearson_table(rng, args.repeats)
    print("\n".join(verdicts))


def pearson_table(rng: np.random.Generator, repeats: int) -> list[str]:
    """Part 2: each Pearson measure against a full-lag fftconvolve of the same signals; returns the verdicts."""
    header = f"{'measure':>18} {'length':>7} {'measure':>11} {'fftconvolve':>12} {'ratio':>7}"
    print(f"\n{header}\n{'-' * len(header)}")
    verdicts = []
    for seconds in DURATIONS_S:
        n = seconds * SAMPLE_RATE
        reference = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        observed = rng.uniform(-0.5, 0.5, n + n // 10).astype(np.float32)  # inputs are rarely the same length
        ref64, obs64 = reference.astype(np.float64), observed.astype(np.float64)
        fns = {name: (lambda name=name: pearson_measure(name, reference, observed)) for name in PEARSON_MEASURES}
        fns["fftconvolve"] = lambda: fftconvolve(obs64, ref64[::-1], mode="full")
        times = best_times(fns, repeats)
        for name in PEARSON_MEASURES:
            ratio = times[name] / times["fftconvolve"]
            print(f"{name:>18} {seconds:>6}s {times[name] * 1e3:>9.2f}ms {times['fftconvolve'] * 1e3:>10.2f}ms "
                  f"{ratio:>6.2f}x")
            verdicts.append(f"{seconds} s: {name}/fftconvolve {ratio:.2f}x (target <= {FFTCONVOLVE_TARGET:g}x) "
                            f"{'PASS' if ratio <= FFTCONVOLVE_TARGET else 'FAIL'}")
    return verdicts


if __name__ == "__main__":
    main()
