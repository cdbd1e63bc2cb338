"""The default detector's latency per second of audio: the old path against the new one, measured in the same run.

Run: ``./run bench detect [--asr whisper-base] [--rounds 2] [--threads 2] [--seed 0]``

Inputs (each checked by ``Detector.check``, as ``synthcheck detect`` does):

- ``tts``: the paper's ten clauses (pico2wave en-US through the 28 dB channel, seeded), one check per clause;
- ``human``: the first six LibriVox clauses of two-cities-human, one check per clause;
- ``long``: the whole LibriVox paragraph (44 s, judged in two windows), one check.

Paths, interleaved round by round (fastest round of each):

- ``old``: every judge in this process, float32, windows one after another (the align judge's searches stall
  torch: PocketSphinx holds the GIL);
- ``new``: for one recording, the align judge's searches in the shared second process
  (:mod:`synthcheck.detect.align_worker`): the phone loop while Whisper transcribes, the forced alignment while
  the likelihood judge scores; torch on one thread fewer meanwhile. ``new 1by1`` checks the clips one call each
  (``synthcheck detect FILE``, the service), ``new batch`` all in one ``Detector.check_batch`` (``synthcheck
  detect DIR`` judges 8 files per call): one recogniser call for every window of every clip (Whisper batches
  windows of the same padding), every judge in this process with all of torch's threads (measured faster,
  batched, than beside the worker on one thread fewer).

Printed per input: seconds of checking per second of audio for each path, the ratio of old to the best new
(the issue's target: at least 2), and whether the new paths' verdicts agree with the old path's (transcripts,
decisions, and the largest score difference: one torch thread fewer changes float rounding, ~1e-7). Then the old
path's parts on the same inputs (transcription one by one and batched, likelihood judge, align judge, in this
process), which bound what any overlap can reach.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.channel import paper_channel
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.windows import split_at_pauses
from synthcheck.data.datasets import load_dataset
from synthcheck.data.two_cities import PAPER_SENTENCES, librivox_two_cities
from synthcheck.detect import DEFAULT_DETECTOR, Detector, build_detector
from synthcheck.tts import get_synthesizer

TARGET_RATIO = 2.0


def inputs(seed: int) -> dict[str, list[np.ndarray]]:
    """The benchmark's recordings by input name."""
    pico = get_synthesizer("pico2wave", "en-US")
    channel, rng = paper_channel(), np.random.default_rng(seed)
    return {
        "tts": [channel.apply(pico.synthesize(text), rng) for text in PAPER_SENTENCES],
        "human": [clause.audio for clause in load_dataset("two-cities-human")[:6]],
        "long": [librivox_two_cities()],
    }


def verdicts_of(run: Callable[[], list]) -> tuple[float, list]:
    """Seconds ``run`` takes, and its verdicts."""
    start = time.perf_counter()
    verdicts = run()
    return time.perf_counter() - start, verdicts


def agreement(reference: list, other: list) -> str:
    """Whether two runs' verdicts agree: transcripts and decisions, and the largest score difference."""
    same = all(a.transcript == b.transcript and a.consistent == b.consistent for a, b in zip(reference, other))
    scores = [(a.score, b.score) for a, b in zip(reference, other)]
    scores += [(ma["score"], mb["score"]) for a, b in zip(reference, other)
               for ma, mb in zip(a.details.get("members", {}).values(), b.details.get("members", {}).values())]
    gap = max(abs(x - y) for x, y in scores)
    return f"{'same' if same else 'DIFFERENT'} transcripts+decisions, max |score diff| {gap:.1e}"


def fastest(fn: Callable[[], object], rounds: int) -> float:
    """Fastest wall time of ``rounds`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asr", default="whisper-base")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    recognizer = get_recognizer(args.asr)
    new = build_detector(recognizer, DEFAULT_DETECTOR)
    old = build_detector(recognizer, DEFAULT_DETECTOR)
    likelihood, align = old.members  # type: ignore[attr-defined]
    align.comparator.background = False
    clips_by_input = inputs(args.seed)
    warm = clips_by_input["human"][:1]
    old.check(warm[0]), new.check(warm[0])  # load models, start the worker

    print(f"detector {new.name} protecting {recognizer.name}; torch threads {args.threads}; fastest of {args.rounds} "
          "interleaved rounds; seconds of checking per second of audio")
    print(f"{'input':<7}{'clips':>6}{'audio s':>9}{'old':>9}{'new 1by1':>10}{'new batch':>11}{'old/new':>9}  "
          "new against old")
    for name, clips in clips_by_input.items():
        seconds = sum(clip.size for clip in clips) / SAMPLE_RATE
        paths = {
            "old": lambda: [old.check(clip) for clip in clips],
            "one": lambda: [new.check(clip) for clip in clips],
            "batch": lambda: new.check_batch(clips),
        }
        best = dict.fromkeys(paths, float("inf"))
        verdicts: dict[str, list] = {}
        for _ in range(args.rounds):
            for path, run in paths.items():
                took, verdicts[path] = verdicts_of(run)
                best[path] = min(best[path], took)
        ratio = best["old"] / min(best["one"], best["batch"])
        flag = "" if ratio >= TARGET_RATIO else f"; target >= {TARGET_RATIO:.1f}x not met"
        print(f"{name:<7}{len(clips):>6}{seconds:>9.1f}{best['old'] / seconds:>9.4f}{best['one'] / seconds:>10.4f}"
              f"{best['batch'] / seconds:>11.4f}{ratio:>8.2f}x  1by1 {agreement(verdicts['old'], verdicts['one'])}; "
              f"batch {agreement(verdicts['old'], verdicts['batch'])}{flag}")

    print("\nold path's parts, in this process (s per s of audio):")
    print(f"{'input':<7}{'asr':>9}{'asr batched':>13}{'likelihood':>12}{'align':>9}")
    for name, clips in clips_by_input.items():
        seconds = sum(clip.size for clip in clips) / SAMPLE_RATE
        windows = [window for clip in clips for window in split_at_pauses(clip)]
        transcripts = [recognizer.transcribe_batch([window])[0] or "the" for window in windows]
        parts = [
            fastest(lambda: [recognizer.transcribe_batch([w]) for w in windows], args.rounds),
            fastest(lambda: recognizer.transcribe_batch(windows), args.rounds),
            fastest(lambda: [likelihood.comparator.score_transcript(w, t) for w, t in zip(windows, transcripts)],
                    args.rounds),
            fastest(lambda: [align.comparator.score_transcript(w, t) for w, t in zip(windows, transcripts)],
                    args.rounds),
        ]
        print(f"{name:<7}" + "".join(f"{p / seconds:>{width}.4f}" for p, width in zip(parts, (9, 13, 12, 9))))


if __name__ == "__main__":
    main()
