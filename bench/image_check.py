"""Benchmark the image check (latent search + comparator) against one classifier forward pass, in the same run.

Usage: ``./run bench image_check [--images N] [--seed S] [--threads T] [--repeats R]``

On N MNIST test images (a seeded choice after the calibration images), timed as the fastest of R repeats:

1. the CNN's forward pass (batched), per image — the baseline;
2. the default detector's ``check_batch`` (``evidence``: classify, search all ten classes, score) at 1, 10 and
   100 images per call, per image, and its ratio to the baseline;
3. the latent search alone at other settings (restarts, bank, Adam steps), per image, with its quality: the
   fraction of images whose nearest class manifold is their true class, and the mean true-class residual.

Target: the default check at most 50 ms per image on this machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from synthcheck.experiments.machine import cpu_facts
from synthcheck.images.classifier import image_classifier
from synthcheck.images.data import load_dataset
from synthcheck.images.decompress import LatentSearch, SearchSettings, image_generator
from synthcheck.images.detector import CALIBRATION_IMAGES, IMAGE_DETECTORS

TARGET_MS = 50.0
SEARCHES = (SearchSettings(steps=0), SearchSettings(), SearchSettings(steps=50),
            SearchSettings(restarts=3, bank=300))


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = load_dataset("mnist").test
    rng = np.random.default_rng(args.seed)
    index = np.sort(rng.choice(np.arange(CALIBRATION_IMAGES, len(test)), size=args.images, replace=False))
    images, labels = np.array(test.images[index]), test.labels[index]
    print(f"machine: {cpu_facts()}; torch threads {args.threads}; {args.images} MNIST test images, seed {args.seed}")

    classifier = image_classifier("mnist")
    forward = best_seconds(lambda: classifier.predict(images), args.repeats) / len(images)
    print(f"\nbaseline: CNN forward {1000 * forward:.3f} ms per image (batched)")

    detector = IMAGE_DETECTORS["evidence"].build("mnist")
    print("\ndefault check (evidence detector: classify + search of all 10 classes + score)")
    print(f"{'images per call':>16} {'ms per image':>13} {'x forward':>10}")
    default_ms = {}
    for per_call in (1, 10, 100):
        chunks = [images[i : i + per_call] for i in range(0, min(len(images), max(per_call, 100)), per_call)]
        seconds = best_seconds(lambda: [detector.check_batch(c) for c in chunks], args.repeats)
        default_ms[per_call] = 1000 * seconds / sum(len(c) for c in chunks)
        print(f"{per_call:>16} {default_ms[per_call]:>13.2f} {default_ms[per_call] / (1000 * forward):>10.0f}")

    print("\nlatent search alone (per image, batched over all images)")
    print(f"{'restarts':>8} {'bank':>5} {'steps':>5} {'ms per image':>13} {'x forward':>10} {'nearest=true':>12} "
          f"{'true residual':>13}")
    generator = image_generator("mnist")
    for settings in SEARCHES:
        search = LatentSearch(generator, settings)
        seconds = best_seconds(lambda: search.search(images), args.repeats) / len(images)
        found = search.search(images)
        nearest = float(np.mean(found.distances.argmin(1) == labels))
        residual = float(np.mean(found.distances[np.arange(len(labels)), labels]))
        print(f"{settings.restarts:>8} {settings.bank:>5} {settings.steps:>5} {1000 * seconds:>13.2f} "
              f"{seconds / forward:>10.0f} {nearest:>12.3f} {residual:>13.3f}")

    best = min(default_ms.values())
    verdict = "met" if best <= TARGET_MS else "NOT met"
    print(f"\ntarget: default check <= {TARGET_MS:.0f} ms per image: {verdict} ({best:.2f} ms at the best batch "
          f"size, {default_ms[1]:.2f} ms one image per call)")


if __name__ == "__main__":
    main()
